"""From an experiment's hourly counts to its parameter batch: alpha/beta, P(best), weights, SRM.

Plain Python on the few rows the Spark job collects; the rules themselves live in ``services``
(``probability_best``, ``apply_floor``, ``in_warmup``, ``experiment_srm``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta

import numpy as np

from services.algorithms.floor import apply_floor
from services.algorithms.warmup import in_warmup
from services.experiments import Experiment, ExperimentType
from services.hourly_metrics import ArmTotals, HourlyMetric, summed_counts
from services.ops.split_check import experiment_srm
from services.parameters import ArmParameters, BatchArm, ParameterBatch, ParameterSnapshot
from services.statistics import probability_best
from services.statistics.stratified import bandit_parameters


def batch_id_for(batch_end: datetime) -> str:
    """The batch's id: its end hour, e.g. ``20261128T1000`` (the same batch keeps its id)."""
    return f"{batch_end:%Y%m%dT%H%M}"


#: Turns the hourly documents of a window into each arm's counts (see ``summed_counts``).
Totals = Callable[[list[dict[str, object]]], Mapping[str, ArmTotals]]


def window_counts(
    experiment: Experiment,
    rows: Sequence[HourlyMetric],
    start: datetime,
    end: datetime,
    estimator: Totals = summed_counts,
) -> tuple[list[int], list[int]]:
    """Impressions and clicks per arm (in arm order) over ``start <= hour < end``."""
    codes = set(experiment.model_codes)
    docs = [
        row.to_dict()
        for row in rows
        if row.experiment_id == experiment.experiment_id
        and row.model_code in codes
        and start <= row.hour < end
    ]
    totals = estimator(docs)
    empty = ArmTotals()
    impressions = [int(totals.get(code, empty).impressions) for code in experiment.model_codes]
    clicks = [int(totals.get(code, empty).clicks) for code in experiment.model_codes]
    return impressions, clicks


def srm_summary(
    experiment: Experiment,
    rows: Sequence[HourlyMetric],
    start: datetime,
    end: datetime,
    history: Sequence[ParameterBatch],
) -> dict[str, object]:
    """The SRM check of the window on the experiment's assignment unit, as a document.

    ``services.ops.split_check.experiment_srm`` on the window's hourly metrics: a static or
    sticky test counts members at their first assignment (``first_members_by_batch``), a
    draw-mode test impressions (``impressions_by_batch``); each unit is judged against the
    weights of the batch it was served under (``history``: the batches of the window and the
    one in force at its start; the warm-up split before the first). The document records the
    ``unit``.
    """
    window = [
        r for r in rows if r.experiment_id == experiment.experiment_id and start <= r.hour < end
    ]
    return experiment_srm(experiment, window, history).to_dict()


#: Each arm's bandit ``(alpha, beta)`` from the window's hourly documents, in arm order.
Estimator = Callable[[list[dict[str, object]], Sequence[str]], list[tuple[float, float]]]


def pooled_estimator(
    docs: list[dict[str, object]], codes: Sequence[str]
) -> list[tuple[float, float]]:
    """Clicks and non-clicks summed over the window (``summed_counts``)."""
    totals = summed_counts(docs)
    empty = ArmTotals()
    out = []
    for code in codes:
        t = totals.get(code, empty)
        out.append((float(t.clicks), float(t.impressions - t.clicks)))
    return out


def stratified_estimator(
    docs: list[dict[str, object]], codes: Sequence[str]
) -> list[tuple[float, float]]:
    """The hour-stratified estimate, moment-matched to ``Beta(1 + alpha, 1 + beta)``
    (``services.statistics.stratified.bandit_parameters``): the daily cycle and the moving
    traffic mix do not pull the bandit."""
    params = bandit_parameters(docs, codes)
    return [params.get(code, (0.0, 0.0)) for code in codes]


def build_batch(
    experiment: Experiment,
    rows: Sequence[HourlyMetric],
    *,
    batch_end: datetime,
    window_hours: int | None = None,
    window_start: datetime | None = None,
    history: Sequence[ParameterBatch] = (),
    data_quality: dict[str, int] | None = None,
    estimator: Estimator = stratified_estimator,
) -> ParameterBatch:
    """The parameter batch of one running experiment for the window ending at ``batch_end``.

    Dynamic: weights are P(best) under Beta(1 + alpha, 1 + beta) with the exposure floor, or the
    configured split while the experiment warms up (decided by ``in_warmup`` at ``batch_end``).
    Static: weights are the configured split; P(best) is recorded for the console.
    """
    if window_start is not None:
        start = window_start
    else:
        start = batch_end - timedelta(hours=window_hours or experiment.evaluation_window_hours)
    batch_id = batch_id_for(batch_end)
    codes = set(experiment.model_codes)
    window = [
        r
        for r in rows
        if r.experiment_id == experiment.experiment_id
        and r.model_code in codes
        and start <= r.hour < batch_end
    ]
    impressions, clicks = window_counts(experiment, window, start, batch_end)
    # Whole counts, as the store keeps them (a moment-matched Beta rounds to the nearest one).
    fed = estimator([r.to_dict() for r in window], experiment.model_codes)
    alphas = [round(a) for a, _ in fed]
    betas = [round(b) for _, b in fed]
    p_best = probability_best([1 + a for a in alphas], [1 + b for b in betas])
    p_best = p_best / p_best.sum()
    configured = np.array(experiment.normalised_weights)
    if experiment.type is ExperimentType.STATIC:
        warmup = False
        weights = configured
    else:
        snapshot = ParameterSnapshot(
            experiment_id=experiment.experiment_id,
            batch_id=batch_id,
            # Warm-up counts real impressions per arm, whatever feeds the bandit.
            arms=tuple(
                ArmParameters(code, c, n - c)
                for code, n, c in zip(experiment.model_codes, impressions, clicks, strict=True)
            ),
            warmup=True,
        )
        warmup = in_warmup(experiment, snapshot, batch_end)
        weights = configured if warmup else apply_floor(p_best, experiment.exposure_floor)
    arms = tuple(
        BatchArm(code, int(a), int(b), float(p), float(w))
        for code, a, b, p, w in zip(
            experiment.model_codes, alphas, betas, p_best, weights, strict=True
        )
    )
    return ParameterBatch(
        experiment_id=experiment.experiment_id,
        batch_id=batch_id,
        window_start=start,
        window_end=batch_end,
        arms=arms,
        warmup=warmup,
        data_quality=dict(data_quality or {}),
        srm=srm_summary(experiment, rows, start, batch_end, history),
    )
