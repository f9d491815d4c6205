"""The overview of every area: its experiment, who leads, how fresh the parameters are, alerts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from services.experiments import Area, Experiment, ExperimentType, Status
from services.guardrails.evaluate import data_quality_over
from services.guardrails.rules import GuardrailRules
from services.parameters import ParameterBatch
from services.statistics import ArmCounts, probability_best, probability_best_from_counts

#: A batch is stale once this many batch intervals have passed without a new one: one missed
#: run can be a slow cluster, two in a row means the parameters have stopped moving.
STALE_AFTER_INTERVALS = 2
#: SRM p-value below which a split is flagged (the job normally writes its own verdict).
SRM_THRESHOLD = 0.001
#: Data-quality counts (orphan clicks, duplicates, malformed lines...) above which to alert.
DATA_QUALITY_THRESHOLD = 100


@dataclass(frozen=True)
class Leader:
    model_code: str
    p_best: float
    source: str  # "batch" (the job's latest parameters) or "window" (hourly counts)


@dataclass(frozen=True)
class BatchAlert:
    kind: str  # "srm" | "data_quality" | "stale" | "no_batch"
    message: str


@dataclass(frozen=True)
class AreaSummary:
    area_code: str
    area_name: str
    experiment_id: str | None
    experiment_name: str
    status: Status | None
    type: ExperimentType | None
    leader: Leader | None
    last_batch_at: datetime | None
    stale: bool
    alerts: tuple[BatchAlert, ...]


def leader_from_batch(batch: ParameterBatch) -> Leader | None:
    """The arm with the highest P(best) in ``batch`` (computed from alpha/beta if not stored)."""
    if not batch.arms:
        return None
    stored = [arm.p_best for arm in batch.arms]
    if all(p is not None for p in stored):
        p = np.asarray(stored, dtype=float)
    else:
        p = probability_best(
            [1.0 + a.alpha for a in batch.arms], [1.0 + a.beta for a in batch.arms]
        )
    i = int(np.argmax(p))
    return Leader(batch.arms[i].model_code, float(p[i]), "batch")


def leader_from_counts(counts: Mapping[str, ArmCounts]) -> Leader | None:
    """The model with the highest P(best) given its counts; None before any impression."""
    if not counts or not any(c.impressions for c in counts.values()):
        return None
    codes = list(counts)
    p = probability_best_from_counts([counts[c] for c in codes])
    i = int(np.argmax(p))
    return Leader(codes[i], float(p[i]), "window")


def batch_time(batch: ParameterBatch) -> datetime:
    """When the batch was computed (its end of window if the job did not record it)."""
    return batch.created_at or batch.window_end


def is_batch_stale(last_batch_at: datetime, now: datetime, batch_interval_minutes: int) -> bool:
    """True when no batch arrived for ``STALE_AFTER_INTERVALS`` batch intervals."""
    return now - last_batch_at > timedelta(minutes=batch_interval_minutes * STALE_AFTER_INTERVALS)


def batch_alerts(
    batch: ParameterBatch,
    *,
    data_quality_threshold: int = DATA_QUALITY_THRESHOLD,
    srm_threshold: float = SRM_THRESHOLD,
    rules: GuardrailRules | None = None,
) -> list[BatchAlert]:
    """Alerts raised by the job's own checks recorded in ``batch.srm`` and ``batch.data_quality``.

    The SRM verdict is the job's ``mismatch`` flag when present, else ``p_value < srm_threshold``.
    Data quality is judged as *rates* against the guardrail limits (``rules``, default
    :class:`GuardrailRules`) when the batch records its volume (``events``); an older batch
    without it falls back to every count above ``data_quality_threshold``.
    """
    alerts: list[BatchAlert] = []
    srm = batch.srm or {}
    mismatch = srm.get("mismatch")
    p_value = srm.get("p_value")
    if mismatch is None and isinstance(p_value, int | float):
        mismatch = p_value < srm_threshold
    if mismatch:
        detail = f" (p = {p_value:.2g})" if isinstance(p_value, int | float) else ""
        if srm.get("unit"):
            detail += f" on {srm['unit']}"
        alerts.append(
            BatchAlert(
                "srm",
                f"sample ratio mismatch in batch {batch.batch_id}{detail}: the served split does "
                "not match the allocation; do not trust the comparison until it is explained",
            )
        )
    counts = batch.data_quality or {}
    if isinstance(counts.get("events"), int | float):
        return alerts + _rate_alerts(batch, counts, rules or GuardrailRules())
    for name, count in sorted(counts.items()):
        if isinstance(count, int | float) and count > data_quality_threshold:
            alerts.append(
                BatchAlert(
                    "data_quality",
                    f"data quality: {name} = {count:,} in batch {batch.batch_id} "
                    f"(threshold {data_quality_threshold:,})",
                )
            )
    return alerts


def _rate_alerts(
    batch: ParameterBatch, counts: Mapping[str, Any], rules: GuardrailRules
) -> list[BatchAlert]:
    events = int(counts["events"])
    clicks = sum(a.alpha for a in batch.arms) if "clicks" not in counts else int(counts["clicks"])
    over = data_quality_over(counts, events=events, clicks=clicks, rules=rules)
    return [
        BatchAlert(
            "data_quality",
            f"data quality: {name.replace('_', ' ')} {rate:.1%} in batch {batch.batch_id} "
            f"(limit {limit:.1%})",
        )
        for name, (rate, _low, limit) in over.items()
    ]


def summarise_area(
    area: Area,
    experiment: Experiment | None,
    latest_batch: ParameterBatch | None,
    window: Mapping[str, ArmCounts] | None,
    now: datetime,
    *,
    data_quality_threshold: int = DATA_QUALITY_THRESHOLD,
) -> AreaSummary:
    """One overview row: the area's active experiment, its leader, batch freshness and alerts.

    The leader comes from the latest parameter batch (what the bandit serves by) when there is
    one, else from ``window``, the hourly counts of the evaluation window (static tests).
    """
    if experiment is None:
        return AreaSummary(area.area_code, area.name, None, "", None, None, None, None, False, ())
    alerts: list[BatchAlert] = []
    leader = leader_from_batch(latest_batch) if latest_batch else None
    if leader is None and window is not None:
        leader = leader_from_counts(window)
    last_at = batch_time(latest_batch) if latest_batch else None
    stale = False
    if latest_batch is not None:
        alerts.extend(
            batch_alerts(
                latest_batch,
                data_quality_threshold=data_quality_threshold,
                rules=experiment.guardrails,
            )
        )
        if experiment.status is Status.RUNNING:
            stale = is_batch_stale(last_at, now, experiment.batch_interval_minutes)  # type: ignore[arg-type]
            if stale:
                alerts.append(
                    BatchAlert(
                        "stale",
                        f"no parameter batch since {last_at:%Y-%m-%d %H:%M} UTC; is the "
                        "parameter job running?",
                    )
                )
    elif experiment.type is ExperimentType.DYNAMIC and experiment.status is Status.RUNNING:
        alerts.append(
            BatchAlert("no_batch", "no parameter batch yet: the test serves its warm-up split")
        )
    return AreaSummary(
        area_code=area.area_code,
        area_name=area.name,
        experiment_id=experiment.experiment_id,
        experiment_name=experiment.name,
        status=experiment.status,
        type=experiment.type,
        leader=leader,
        last_batch_at=last_at,
        stale=stale,
        alerts=tuple(alerts),
    )


def latest(batches: Sequence[ParameterBatch]) -> ParameterBatch | None:
    return batches[-1] if batches else None
