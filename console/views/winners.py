"""Winners: the decision under the experiment's rule, who leads over the current window, and
each day's leader on that day's data. Only the decision rule says "winner"."""

from __future__ import annotations

from datetime import timedelta

import altair as alt
import streamlit as st

from console import data
from console import formats as fmt
from console.access import signed_in_user
from console.text import md
from console.widgets import experiments_or_stop, pick_experiment
from services.experiments import Status
from services.reports import daily_winner_frame, latest_window, realtime_winner, window_counts
from services.reports.decision import decision_frame, report_markdown
from services.reports.winners import daily_winner_summary

#: Seed of the lift intervals' Monte Carlo draws: fixed, so a reload shows the same interval.
LIFT_SEED = 20261128

user = signed_in_user()
st.title("Winners")

src = data.source()
experiments = experiments_or_stop(src)

exp = pick_experiment("winners_experiment", experiments)
metrics = data.hourly_metrics(src, exp.experiment_id)
if not metrics:
    st.info(
        f"No hourly metrics for {exp.experiment_id} yet, so no winner. They appear once the "
        "experiment serves traffic and the parameter job has run (`dynab run` does both)."
    )
    st.stop()

stopped = exp.status is Status.STOPPED

# --- the decision -------------------------------------------------------------------------
report = data.decision_report(src, exp.experiment_id, exp.version, exp)
if stopped:
    st.subheader("Final result")
    when = f" on {exp.stopped_at:%Y-%m-%d %H:%M} UTC" if exp.stopped_at else ""
    if exp.promoted_model:
        st.success(
            md(
                f"{exp.experiment_id} stopped{when}; promoted model: {exp.promoted_model} "
                f"(the area {exp.area_code} serves it by default)."
            )
        )
    else:
        st.info(md(f"{exp.experiment_id} stopped{when} without promoting a model."))
else:
    st.subheader("Decision")
decision = report.decision
rule = decision.rule
d1, d2, d3 = st.columns(3)
d1.metric("Decision", decision.status.value, help=decision.label)
d2.metric(
    "Model",
    decision.leader or "-",
    help="The declared winner" if decision.status.value == "winner" else "Leading, not decided",
)
eta = report.hours_to_decision
d3.metric(
    "Estimated hours to decision",
    "decided"
    if decision.status.value in ("winner", "no-difference")
    else ("-" if eta is None else f"{eta:.0f}"),
    help="At the current traffic and difference (normal approximation; docs/statistics.md)",
)
st.markdown(f"**{md(decision.label)}**")
st.caption(
    f"Rule: P(best) ≥ {rule.min_p_best:.0%} and expected loss ≤ {rule.max_loss_fraction:.0%} of "
    f"the control's CTR for {rule.consecutive_batches} consecutive batches after warm-up, on "
    "hour-stratified estimates over all hours since the start. Pooled figures are shown beside, "
    "for comparison only."
)
decision_table = fmt.decision_table(decision_frame(report))
# Two tables that fit the page (one of 15 columns needed a horizontal scroll at 1,400 px): what
# the rule decides on, then the pooled figures and order rates beside it. The CSV has both.
fmt.model_tables(
    decision_table,
    fmt.BESIDE_COLUMNS,
    "winners_decision",
    "Pooled figures (for comparison only) and order rates, over the same hours:",
)
e1, e2, _ = st.columns([1, 2, 3])
fmt.csv_button(e1, decision_table, f"{exp.experiment_id}-decision")
e2.download_button(
    "Decision report (Markdown)",
    data=lambda: report_markdown(report),
    file_name=f"{exp.experiment_id}-decision.md",
    mime="text/markdown",
    key="export_md_decision",
    on_click="ignore",
    icon=":material/download:",
    help="What `dynab report` prints for this experiment",
)

# --- real-time leader ---------------------------------------------------------------------
history = data.parameter_history(src, exp.experiment_id, limit=1)
if history:
    # The window the bandit itself weighs: the latest batch's.
    bounds = (history[-1].window_start, history[-1].window_end)
elif exp.window_hours is None:
    # The cumulative window: every hour since the first one with traffic.
    bounds = (metrics[0].hour, metrics[-1].hour + timedelta(hours=1))
else:
    bounds = latest_window(metrics, exp.window_hours)
assert bounds is not None  # there are metrics
counts = window_counts(metrics, exp.model_codes, *bounds)
rt = realtime_winner(counts, exp.control_arm.model_code, *bounds, seed=LIFT_SEED)
leader = rt.leader
if stopped:
    st.subheader("Final window (pooled)")
else:
    st.subheader("Right now (pooled, over the bandit's window)")
st.caption(
    f"Evaluation window {bounds[0]:%Y-%m-%d %H:00} – {bounds[1]:%Y-%m-%d %H:00} UTC "
    f"({'cumulative' if exp.window_hours is None else f'{exp.window_hours} h'}); "
    f"control {md(rt.control)}."
)
if leader is None:
    st.info("No impressions in the current window yet.")
else:
    c1, c2, c3 = st.columns(3)
    c1.metric("Leader (pooled)", leader.model_code)
    c2.metric("P(best)", fmt.pct(leader.p_best), help=fmt.HELP["p_best"])
    if leader.lift is not None:
        c3.metric(
            "Lift over control",
            fmt.signed_pct(leader.lift.mean),
            help="95% credible interval "
            + fmt.interval(leader.lift.low, leader.lift.high, signed=True),
        )
    else:
        c3.metric("Lift over control", "control leads")
    frame = rt.frame()
    window_table = fmt.realtime_table(frame)
    # Two tables that fit the page: each model's figures, then its lift over the control (the
    # CSV has both).
    fmt.model_tables(window_table, fmt.LIFT_COLUMNS, "winners_realtime")
    fmt.csv_button(st, window_table, f"{exp.experiment_id}-window")
    lifts = frame[~frame["control"]].dropna(subset=["lift"])
    if not lifts.empty:
        base = alt.Chart(lifts).encode(alt.Y("model_code:N", title="model"))
        fmt.chart(
            st,
            base.mark_rule(strokeWidth=3).encode(
                alt.X(
                    "lift_low:Q",
                    title="lift over control (95% interval)",
                    axis=alt.Axis(format="%"),
                ),
                alt.X2("lift_high:Q"),
            )
            + base.mark_point(filled=True, size=80).encode(alt.X("lift:Q"))
            + alt.Chart().mark_rule(strokeDash=[4, 4]).encode(x=alt.datum(0)),
            f"{exp.experiment_id}-lift",
        )
    st.caption(
        f"Lift intervals from {rt.arms[-1].lift.draws if rt.arms[-1].lift else 0:,} "
        f"Monte Carlo draws, seed {rt.seed}."
    )

# --- daily winners ------------------------------------------------------------------------
st.subheader("Daily leaders")
first_day = metrics[0].hour.date()
last_day = metrics[-1].hour.date()
picked = st.date_input(
    "Days (UTC)",
    value=(max(first_day, last_day - timedelta(days=13)), last_day),
    min_value=first_day,
    max_value=last_day,
    key=f"winners_dates_{exp.experiment_id}",
)
days = picked if isinstance(picked, tuple) else (picked,)
start_day, end_day = days[0], days[-1]
daily = daily_winner_frame(
    [m for m in metrics if start_day <= m.hour.date() <= end_day], exp.model_codes
)
summary = daily_winner_summary(daily)
summary = fmt.humanise(summary).rename(columns={"leader": "Leader"})
st.dataframe(
    summary,
    hide_index=True,
    key="winners_daily_summary",
    column_config=fmt.table_help(summary),
)
with st.expander("Every model, every day"):
    daily = fmt.humanise(daily)
    st.dataframe(
        daily,
        hide_index=True,
        width="stretch",
        key="winners_daily",
        column_config=fmt.table_help(daily),
    )
    fmt.csv_button(st, daily, f"{exp.experiment_id}-daily")
st.caption(
    "P(best) of a day uses only that day's impressions and clicks (pooled). A day's leader is "
    "not a decision; see the decision above."
)
