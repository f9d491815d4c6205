"""The demo: areas and experiments that show both kinds of test (``dynab demo-data``).

The dynamic test pits the seed's two models against each other; their true click rates in the
demo traffic are 6.7% and 5.8%, as in the seed's worked example.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from services.algorithms.floor import apply_floor
from services.clock import floor_hour
from services.exceptions import NotFoundError
from services.experiments import Area, Arm, Experiment, ExperimentType, Status
from services.hourly_metrics import HourlyMetric
from services.parameters import BatchArm, ParameterBatch
from services.statistics import probability_best
from services.store import Store

DEMO_USER = "demo"

AREAS = (
    Area("MAIN", "EXP-01-APS002-01", "Main page: recommended for you"),
    Area("DETAIL", "LF001-01", "Product detail: similar items"),
    Area("CART", "CART-POP-01", "Cart: frequently bought together"),
)

EXPERIMENTS = (
    Experiment(
        experiment_id="EXP-01",
        name="Main page: APS002 vs NCF (dynamic)",
        area_code="MAIN",
        type=ExperimentType.DYNAMIC,
        arms=(
            Arm("EXP-01-APS002-01", "Personalize APS002", 1.0, control=True),
            Arm("EXP-01-NCF-01", "Neural collaborative filtering", 1.0),
        ),
        warmup_hours=3,
        warmup_min_impressions=1000,
        exposure_floor=0.05,
    ),
    Experiment(
        experiment_id="EXP-02",
        name="Product detail: LF001 vs NCF-02 (static 5:5)",
        area_code="DETAIL",
        type=ExperimentType.STATIC,
        arms=(
            Arm("LF001-01", "Item-to-item LF001", 5, control=True),
            Arm("NCF-02", "NCF v2", 5),
        ),
    ),
)

#: True click and order rates of the demo models, used by the demo traffic.
TRUE_RATES: dict[str, tuple[float, float]] = {
    "EXP-01-APS002-01": (0.067, 0.004),
    "EXP-01-NCF-01": (0.058, 0.0038),
    "LF001-01": (0.052, 0.003),
    "NCF-02": (0.049, 0.003),
    "CART-POP-01": (0.040, 0.002),
}


@dataclass(frozen=True)
class DemoResult:
    created: tuple[str, ...]
    started: tuple[str, ...]


def install_demo(
    store: Store,
    *,
    start: bool = True,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    history_days: float = 0,
    now: datetime | None = None,
) -> DemoResult:
    """Create the demo areas and experiments that are missing, and start them (idempotent).

    ``overrides`` maps an experiment id to field changes applied when it is created (the
    end-to-end test shortens the warm-up, for instance). With ``history_days``, each demo
    experiment that has no hourly metrics yet gets that many days of synthetic hourly metrics
    and hourly parameter batches (as the job writes them) ending at ``now``'s hour: a daily cycle,
    deterministic (seeded by the experiment's position).
    """
    overrides = overrides or {}
    created: list[str] = []
    started: list[str] = []
    for area in AREAS:
        try:
            store.get_area(area.area_code)
        except NotFoundError:
            store.save_area(area)
            created.append(area.area_code)
    for exp in EXPERIMENTS:
        try:
            current = store.get_experiment(exp.experiment_id)
        except NotFoundError:
            changes = dict(overrides.get(exp.experiment_id, {}))
            current = store.create_experiment(exp.with_changes(**changes), by=DEMO_USER)
            created.append(exp.experiment_id)
        if start and current.status is Status.DRAFT:
            store.apply_action(
                exp.experiment_id, "start", expected_version=current.version, by=DEMO_USER
            )
            started.append(exp.experiment_id)
    if history_days > 0:
        end = now if now is not None else datetime.now(UTC).replace(tzinfo=None)
        for i, exp in enumerate(EXPERIMENTS):
            if not store.hourly_metrics(exp.experiment_id):
                current = store.get_experiment(exp.experiment_id)
                install_history(store, current, end, history_days, seed=i)
    return DemoResult(tuple(created), tuple(started))


# --- synthetic history ------------------------------------------------------------------------
# Until the traffic generator and the parameter job have run, the demo, the console's tests and
# its benchmark need hourly metrics and parameter batches to show. These are drawn from the demo
# models' true rates with the bandit's own rules: warm-up split first, then P(best) over the
# evaluation window with the exposure floor, recomputed every hour.

#: Click rate of a model the demo does not know (e.g. one created in the console).
DEFAULT_RATE = (0.05, 0.003)


def _rates(experiment: Experiment) -> list[tuple[float, float]]:
    # Unknown models get slightly different rates so that a winner emerges.
    return [
        TRUE_RATES.get(code, (DEFAULT_RATE[0] * (1 - 0.06 * i), DEFAULT_RATE[1]))
        for i, code in enumerate(experiment.model_codes)
    ]


def synthetic_history(
    experiment: Experiment,
    end: datetime,
    days: float,
    *,
    seed: int = 0,
    hourly_impressions: int = 1500,
    batch_days: float | None = None,
) -> tuple[list[HourlyMetric], list[ParameterBatch]]:
    """Hourly metrics for ``days`` before ``end`` and one parameter batch per hour of the last
    ``batch_days`` (all days by default), as the parameter job writes them: a dynamic test's
    batch carries the bandit's weights, a static test's its configured split.

    Deterministic for a given seed. Hours before the batched period use the warm-up split.
    """
    rng = np.random.default_rng(seed)
    dynamic = experiment.type is ExperimentType.DYNAMIC
    # A static test's batches draw their data-quality figures from a generator of their own, so
    # that its hourly metrics are the same with or without batches.
    batch_rng = rng if dynamic else np.random.default_rng(seed + 10_000)
    end = floor_hour(end)
    hours = [end - timedelta(hours=h) for h in range(int(days * 24), 0, -1)]
    batch_from = end - timedelta(days=batch_days if batch_days is not None else days)
    rates = _rates(experiment)
    base = np.asarray(experiment.normalised_weights)
    weights = base
    window = timedelta(hours=experiment.evaluation_window_hours)
    metrics: list[HourlyMetric] = []
    batches: list[ParameterBatch] = []
    recent: list[tuple[datetime, np.ndarray, np.ndarray]] = []
    started = hours[0] if hours else end
    for hour in hours:
        diurnal = 0.6 + 0.4 * np.sin((hour.hour - 6) / 24 * 2 * np.pi) ** 2
        total = int(rng.poisson(hourly_impressions * diurnal))
        served = rng.multinomial(total, weights / weights.sum())
        clicks = rng.binomial(served, [r[0] for r in rates])
        orders = rng.binomial(clicks, [min(1.0, r[1] / r[0]) for r in rates])
        for i, code in enumerate(experiment.model_codes):
            metrics.append(
                HourlyMetric(
                    experiment.experiment_id,
                    code,
                    hour,
                    int(served[i]),
                    int(clicks[i]),
                    int(orders[i]),
                    int(served[i] * 0.8),
                )
            )
        recent.append((hour, served, clicks))
        recent = [r for r in recent if r[0] > hour - window]
        if hour + timedelta(hours=1) <= batch_from:
            continue
        impressions = sum(r[1] for r in recent)
        clicked = sum(r[2] for r in recent)
        warm = dynamic and (
            hour + timedelta(hours=1) - started < timedelta(hours=experiment.warmup_hours)
            or bool(np.any(impressions < experiment.warmup_min_impressions))
        )
        alpha = clicked.astype(int)
        beta = (impressions - clicked).astype(int)
        p_best = probability_best(1.0 + alpha, 1.0 + beta)
        weights = base if warm or not dynamic else apply_floor(p_best, experiment.exposure_floor)
        batch_end = hour + timedelta(hours=1)
        batches.append(
            ParameterBatch(
                experiment_id=experiment.experiment_id,
                batch_id=f"{batch_end:%Y%m%dT%H}",
                window_start=batch_end - window,
                window_end=batch_end,
                arms=tuple(
                    BatchArm(code, int(alpha[i]), int(beta[i]), float(p_best[i]), float(weights[i]))
                    for i, code in enumerate(experiment.model_codes)
                ),
                warmup=warm,
                created_at=batch_end + timedelta(minutes=5),
                seed=None,
                data_quality={"orphan_clicks": int(batch_rng.poisson(3)), "duplicates": 0},
                srm={"p_value": 0.5, "mismatch": False},
            )
        )
    return metrics, batches


def install_history(
    store: Store, experiment: Experiment, end: datetime, days: float, **kwargs: object
) -> tuple[int, int]:
    """Write :func:`synthetic_history` through the store; returns (metric rows, batches)."""
    metrics, batches = synthetic_history(experiment, end, days, **kwargs)  # type: ignore[arg-type]
    hours = sorted({m.hour for m in metrics})
    if metrics:
        store.replace_hourly_metrics(experiment.experiment_id, hours, metrics)
    for batch in batches:
        store.save_parameter_batch(batch)
    return len(metrics), len(batches)
