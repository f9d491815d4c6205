"""From an experiment's hourly counts to its parameter batch: alpha/beta, P(best), weights, SRM.

Plain Python on the few rows the Spark job collects; the rules themselves live in ``services``
(``probability_best``, ``apply_floor``, ``in_warmup``, ``srm_test``).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta

import numpy as np

from services.algorithms.floor import apply_floor
from services.algorithms.warmup import in_warmup
from services.experiments import Experiment, ExperimentType
from services.hourly_metrics import ArmTotals, HourlyMetric, summed_counts
from services.parameters import ArmParameters, BatchArm, ParameterBatch, ParameterSnapshot
from services.statistics import expected_counts_dynamic, probability_best, srm_test


def batch_id_for(batch_end: datetime) -> str:
    """The batch's id: its end hour, e.g. ``20261128T1000`` (the same batch keeps its id)."""
    return f"{batch_end:%Y%m%dT%H%M}"


#: Turns the hourly documents of a window into each arm's counts (see ``summed_counts``).
Estimator = Callable[[list[dict[str, object]]], Mapping[str, ArmTotals]]


def window_counts(
    experiment: Experiment,
    rows: Sequence[HourlyMetric],
    start: datetime,
    end: datetime,
    estimator: Estimator = summed_counts,
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


def _aligned(batch: ParameterBatch, model_codes: Sequence[str]) -> list[float] | None:
    by_code = {arm.model_code: arm.weight for arm in batch.arms}
    weights = [float(by_code.get(code, 0.0)) for code in model_codes]
    total = math.fsum(weights)
    return [w / total for w in weights] if total > 0 else None


def srm_summary(
    experiment: Experiment,
    rows: Sequence[HourlyMetric],
    start: datetime,
    end: datetime,
    history: Sequence[ParameterBatch],
) -> dict[str, object]:
    """The SRM check of the window's impressions, as a document.

    Static: against the configured split. Dynamic: against the weights in force hour by hour
    (the latest batch that ended at or before the hour; the warm-up split before the first).
    """
    codes = experiment.model_codes
    observed, _ = window_counts(experiment, rows, start, end)
    configured = list(experiment.normalised_weights)
    if experiment.type is ExperimentType.STATIC:
        expected: Sequence[float] = configured
    else:
        ordered = sorted(history, key=lambda b: b.window_end)
        ends = [b.window_end for b in ordered]
        traffic_by_hour: dict[datetime, int] = {}
        for r in rows:
            if r.experiment_id == experiment.experiment_id and r.model_code in codes:
                traffic_by_hour[r.hour] = traffic_by_hour.get(r.hour, 0) + r.impressions
        per_hour = []
        hour = start
        while hour < end:
            traffic = traffic_by_hour.get(hour, 0)
            if traffic:
                # The latest batch that ended at or before the hour was in force.
                k = bisect.bisect_right(ends, hour)
                weights = _aligned(ordered[k - 1], codes) if k else None
                per_hour.append((traffic, weights or configured))
            hour += timedelta(hours=1)
        expected = expected_counts_dynamic(per_hour) if per_hour else np.array(configured)
    result = srm_test(observed, expected)
    return {
        "model_codes": list(codes),
        "observed": [int(x) for x in result.observed],
        "expected": [float(x) for x in result.expected],
        # An arm that should get nothing but got traffic gives an infinite statistic; BSON
        # has no portable infinity, so it is stored as null beside p_value 0.
        "chi2": float(result.chi2) if math.isfinite(result.chi2) else None,
        "dof": int(result.dof),
        "p_value": float(result.p_value),
        "mismatch": bool(result.mismatch),
        "threshold": float(result.threshold),
    }


def build_batch(
    experiment: Experiment,
    rows: Sequence[HourlyMetric],
    *,
    batch_end: datetime,
    window_hours: int | None = None,
    history: Sequence[ParameterBatch] = (),
    data_quality: dict[str, int] | None = None,
    estimator: Estimator = summed_counts,
) -> ParameterBatch:
    """The parameter batch of one running experiment for the window ending at ``batch_end``.

    Dynamic: weights are P(best) under Beta(1 + alpha, 1 + beta) with the exposure floor, or the
    configured split while the experiment warms up (decided by ``in_warmup`` at ``batch_end``).
    Static: weights are the configured split; P(best) is recorded for the console.
    """
    hours = window_hours or experiment.evaluation_window_hours
    start = batch_end - timedelta(hours=hours)
    batch_id = batch_id_for(batch_end)
    impressions, clicks = window_counts(experiment, rows, start, batch_end, estimator)
    alphas = clicks
    betas = [n - c for n, c in zip(impressions, clicks, strict=True)]
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
            arms=tuple(
                ArmParameters(code, a, b)
                for code, a, b in zip(experiment.model_codes, alphas, betas, strict=True)
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
