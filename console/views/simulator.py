"""Simulator: compare algorithms on a simulated experiment before a test starts."""

from __future__ import annotations

from collections.abc import Callable

import altair as alt
import pandas as pd
import streamlit as st

from console.access import signed_in_user
from console.memo import shared_lru
from services.exceptions import ValidationError
from services.simulation import Scenario, compare, summarise, summary_frame, timeline_frame
from services.simulation.budget import Budget, BudgetExceededError, check_budget, progress_tracker
from services.simulation.evaluation import decision_frame, decision_rows
from services.simulation.orders import check_order_rates, orders_frame
from services.simulation.scenario import AlgorithmKind, algorithm_named

user = signed_in_user()

st.title("Simulator")
st.caption(
    "How would each algorithm have done? Clicks lost against always serving the best model, "
    "the weaker model's share of traffic, and how fast the winner is identified. "
    "See docs/simulation.md."
)


@shared_lru(max_entries=20)  # not st.cache_data: the run moves the page's progress bar
def run_lab(
    ctrs: tuple[float, ...],
    per_hour: int,
    hours: int,
    seeds: int,
    seed: int,
    names: tuple[str, ...],
    settings: tuple[tuple[str, float | int | str | None], ...],
    physics: tuple[tuple[str, float | int], ...] = (),
    _progress: Callable[[float, str], None] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Simulate; return (summary, hourly timeline, decisions). Plain arguments, so cacheable.

    Raises BudgetExceededError before any work when the run is larger than the budget.
    """
    scenario = Scenario(
        ctrs=ctrs,
        impressions_per_hour=per_hour,
        hours=hours,
        n_seeds=seeds,
        seed=seed,
        **dict(physics),
    )
    algorithms = [algorithm_named(name, **dict(settings)) for name in names]
    check_budget(scenario, algorithms, Budget.from_env())
    hook = progress_tracker(len(algorithms), _progress) if _progress else None
    results = compare(scenario, algorithms, hook)
    return (
        summary_frame(summarise(results)),
        timeline_frame(results),
        decision_frame(decision_rows(results)),
    )


#: Default CTRs of the first two models (the demo's); further models start at 5%.
DEFAULT_CTRS = {"A": 0.067, "B": 0.058}
#: Default order rates (orders per impression), the demo's; further models start at 0.3%.
DEFAULT_ORDER_RATES = {"A": 0.004, "B": 0.0038}


def _rates_per_model(
    label: str,
    models: int,
    defaults: dict[str, float],
    fallback: float,
    step: float,
    digits: int,
    key: str,
    **kwargs: str,
) -> dict[str, float]:
    """One rate input (0 to 1) per model letter, A to the ``models``-th."""
    return {
        letter: float(
            st.number_input(
                f"{label} of model {letter}",
                0.0,
                1.0,
                defaults.get(letter, fallback),
                step,
                format=f"%.{digits}f",
                key=f"{key}_{letter.lower()}",
                **kwargs,
            )
        )
        for letter in "ABCDEFGHIJ"[:models]
    }


with st.sidebar:
    st.subheader("Scenario")
    n_models = st.number_input("Number of models", 2, 10, 2, 1, key="sim_models")
    models = int(n_models)
    ctrs = tuple(_rates_per_model("CTR", models, DEFAULT_CTRS, 0.05, 0.001, 3, "sim_ctr").values())
    order_rates = _rates_per_model(
        "Order rate",
        models,
        DEFAULT_ORDER_RATES,
        0.003,
        0.0005,
        4,
        "sim_orders",
        help="Orders per impression (the orders guard's metric); at most the CTR",
    )
    per_hour = st.number_input("Impressions per hour", 1, 1_000_000, 1500, 100, key="sim_per_hour")
    days = st.number_input("Days", 1, 30, 3, key="sim_days")
    seeds = st.number_input("Seeds", 1, 1000, 20, 10, key="sim_seeds")
    seed = st.number_input("Random seed", 0, 2**31 - 1, 0, key="sim_seed")
    names = st.multiselect(
        "Algorithms",
        [k.value for k in AlgorithmKind],
        default=["static", "epsilon-greedy", "bts"],
        key="sim_algorithms",
    )
    st.subheader("Batched Thompson sampling")
    batch = st.selectbox(
        "Batch interval (minutes)", [15, 30, 60, 120, 240], index=2, key="sim_batch"
    )
    warmup = st.number_input("Warm-up hours", 0.0, 72.0, 6.0, 1.0, key="sim_warmup")
    floor = st.number_input("Exposure floor", 0.0, 0.49, 0.0, 0.01, key="sim_floor")
    epsilon = st.number_input("Epsilon (epsilon-greedy)", 0.0, 1.0, 0.1, 0.05, key="sim_epsilon")
    window = st.selectbox(
        "Evaluation window", ["24 hours", "cumulative"], index=0, key="sim_window"
    )
    estimator = st.selectbox(
        "Bandit fed by", ["pooled", "stratified"], index=0, key="sim_estimator"
    )
    st.subheader("Physics")
    amplitude = st.number_input(
        "Daily CTR cycle amplitude (0.6 = ±60 %)", 0.0, 0.95, 0.0, 0.1, key="sim_cycle"
    )
    peak = st.number_input("Peak hour", 0, 23, 20, key="sim_peak")
    visits = st.number_input("Requests per member per hour", 1.0, 20.0, 1.0, 0.5, key="sim_visits")
    spread = st.number_input("Member propensity spread (CV)", 0.0, 2.0, 0.0, 0.1, key="sim_spread")
    ttl = st.selectbox("Answer cache TTL (s)", [0, 60, 300, 900, 3600], index=0, key="sim_ttl")
    latency = st.number_input("Job latency after the hour (min)", 0, 59, 0, 5, key="sim_latency")

if not names:
    st.info("Choose at least one algorithm.")
    st.stop()

settings = (
    ("epsilon", float(epsilon)),
    ("batch_minutes", int(batch)),
    ("warmup_hours", float(warmup)),
    ("floor", float(floor)),
    ("window_hours", None if window == "cumulative" else 24),
    ("estimator", str(estimator)),
)
physics = (
    ("cycle_amplitude", float(amplitude)),
    ("peak_hour", float(peak)),
    ("repeat_visits", float(visits)),
    ("member_spread", float(spread)),
    ("cache_ttl_seconds", int(ttl)),
    ("job_latency_minutes", int(latency)),
)
# The run reports every simulated hour: the bar moves and a rerun can interrupt it there.
bar = st.progress(0.0, text="Simulating...")
try:
    summary, timeline, decisions = run_lab(
        ctrs,
        int(per_hour),
        int(days) * 24,
        int(seeds),
        int(seed),
        tuple(names),
        settings,
        physics,
        _progress=lambda share, text: bar.progress(share, text=text),
    )
except BudgetExceededError as exc:
    bar.empty()
    st.error(exc.message)
    st.stop()
except ValidationError as exc:
    bar.empty()
    st.error(f"Invalid scenario: {exc}")
    st.stop()
bar.progress(1.0, text="Simulation complete")

st.subheader("Summary")
st.dataframe(summary, hide_index=True, key="sim_summary")

st.subheader("Decisions under the rule, per estimator")
st.caption(
    "The experiment's default decision rule applied every hour on all hours since the start, on "
    "pooled and on hour-stratified estimates: share of seeds declaring a winner (with identical "
    "models: false winners), the correct one, no-difference, median hours to decision, and the "
    "bias of the A − B estimate in percentage points."
)
st.dataframe(decisions, hide_index=True, key="sim_decisions")

st.subheader("Orders")
try:
    check_order_rates(order_rates, dict(zip("ABCDEFGHIJ", ctrs, strict=False)))
except ValidationError as exc:
    st.error(f"Invalid order rates: {exc}")
else:
    st.caption(
        "Expected orders from each algorithm's traffic shares and the models' order rates "
        "(the bandit learns from clicks only, so orders do not move traffic): a model that wins "
        "on clicks but orders less costs orders here."
    )
    st.dataframe(
        orders_frame(timeline, order_rates, int(per_hour) * int(days) * 24),
        hide_index=True,
        key="sim_orders",
    )

st.subheader("Clicks lost against always serving the best model")
st.altair_chart(
    alt.Chart(timeline.drop_duplicates(["algorithm", "hour"]))
    .mark_line()
    .encode(
        x=alt.X("hour:Q", title="hours"),
        y=alt.Y("regret:Q", title="clicks lost"),
        color="algorithm:N",
    ),
    width="stretch",
)

others = "model B" if len(ctrs) == 2 else "models B–" + "ABCDEFGHIJ"[len(ctrs) - 1]
st.subheader(f"Share of each hour's traffic to {others}")
arm_b = timeline[timeline["arm"] != "A"]
st.altair_chart(
    alt.Chart(arm_b)
    .mark_line()
    .encode(
        x=alt.X("hour:Q", title="hours"),
        y=alt.Y("allocation:Q", title="share", axis=alt.Axis(format="%")),
        color="algorithm:N",
        strokeDash="arm:N",
        detail="arm:N",
    ),
    width="stretch",
)

st.subheader(f"Share of all traffic so far to {others} (exposure)")
st.altair_chart(
    alt.Chart(arm_b)
    .mark_line()
    .encode(
        x=alt.X("hour:Q", title="hours"),
        y=alt.Y("exposure:Q", title="share", axis=alt.Axis(format="%")),
        color="algorithm:N",
        strokeDash="arm:N",
        detail="arm:N",
    ),
    width="stretch",
)
