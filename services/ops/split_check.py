"""Did the selector return the models the experiment should produce?

A static test should return its models in the configured ratio; a dynamic test in the weights
(P(best), or the warm-up split) of the parameter batch in force. The selector's log lines say what
it returned; :func:`check_split` turns the weights into expected counts and runs the
sample-ratio-mismatch test on them.

Only selector invocations are counted: an API Gateway cache hit never reaches the selector, so it
leaves no log line. That is what we want — the split is decided on the miss.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from services.exceptions import ValidationError
from services.experiments import Experiment, ExperimentType, ServingMode
from services.ops.figures import SPLIT_REASONS, ModelCount
from services.parameters import BatchArm, ParameterBatch, ParameterSnapshot
from services.statistics.srm import (
    UNIT_FIELDS,
    UNKNOWN_BATCH,
    SrmResult,
    UnitSrm,
    srm_by_batch,
    srm_test,
)


@dataclass(frozen=True)
class WeightsFrom:
    """Serving weights in force from ``since`` on, in the experiment's arm order."""

    since: datetime
    weights: tuple[float, ...]


@dataclass(frozen=True)
class HourSplit:
    """One bin: models served and the counts the weights in force would have produced."""

    bin_start: datetime
    observed: dict[str, int]
    expected: dict[str, float]


@dataclass(frozen=True)
class SplitCheck:
    """Served vs expected model counts of one experiment over a window.

    ``model_codes`` lists the experiment's arms first, then any model served that is not an arm
    (expected 0: any such selection is flagged by the SRM test).
    """

    experiment_id: str
    model_codes: tuple[str, ...]
    observed: tuple[int, ...]
    expected: tuple[float, ...]
    srm: SrmResult
    hours: tuple[HourSplit, ...]

    @property
    def mismatch(self) -> bool:
        return self.srm.mismatch

    @property
    def total(self) -> int:
        return sum(self.observed)


def weight_schedule(
    experiment: Experiment,
    batches: Sequence[ParameterBatch] = (),
    current: ParameterSnapshot | None = None,
) -> tuple[WeightsFrom, ...]:
    """The serving weights of ``experiment`` over time.

    A static test has one split for ever. A dynamic test starts on its warm-up split (the arms'
    configured weights); every parameter batch then brings new weights from its creation on.
    Without any batch history the current parameters (if they carry weights) stand for the
    whole window.
    """
    base = WeightsFrom(datetime.min, experiment.normalised_weights)
    if experiment.type is ExperimentType.STATIC:
        return (base,)
    schedule = [base]
    codes = experiment.model_codes
    dated = sorted(
        (b for b in batches if b.created_at is not None),
        key=lambda b: b.created_at,  # type: ignore[arg-type, return-value]
    )
    for batch in dated:
        by_code = {a.model_code: a.weight for a in batch.arms}
        weights = _normalised([by_code.get(code, 0.0) for code in codes])
        if weights is not None:
            schedule.append(WeightsFrom(batch.created_at, weights))  # type: ignore[arg-type]
    if len(schedule) == 1 and current is not None and current.has_weights:
        arms = current.for_models(codes)
        weights = _normalised([a.weight or 0.0 for a in arms])
        if weights is not None:
            schedule = [WeightsFrom(datetime.min, weights)]
    return tuple(schedule)


def weights_at(schedule: Sequence[WeightsFrom], t: datetime) -> tuple[float, ...]:
    """The weights in force at ``t``: the latest schedule entry starting at or before it."""
    if not schedule:
        raise ValidationError("schedule", "needs at least one entry")
    chosen = schedule[0]
    for entry in schedule:
        if entry.since <= t:
            chosen = entry
    return chosen.weights


def check_split(
    experiment: Experiment,
    served: Mapping[datetime, Mapping[str, int]],
    schedule: Sequence[WeightsFrom],
    *,
    bin_seconds: int = 3600,
    threshold: float = 0.001,
) -> SplitCheck:
    """Compare the models served per bin with the counts the weights in force should produce.

    Each bin is judged by the weights in force at its middle: a batch usually lands a few
    minutes after the hour, so the weights at the bin's start would be the previous batch's for
    almost all of the bin.

    Args:
        experiment: The experiment (its arms give the models and their order).
        served: ``{bin_start: {model_code: count}}`` of selections that follow the split.
        schedule: From :func:`weight_schedule`.
        bin_seconds: Width of a bin.
        threshold: SRM significance threshold (strict by default: the check runs every hour).
    """
    codes = list(experiment.model_codes)
    for per_model in served.values():
        codes.extend(code for code in per_model if code not in codes)
    observed = np.zeros(len(codes))
    expected = np.zeros(len(codes))
    hours: list[HourSplit] = []
    half = timedelta(seconds=bin_seconds / 2)
    for bin_start, per_model in sorted(served.items()):
        n = sum(per_model.values())
        weights = weights_at(schedule, bin_start + half)
        share = np.zeros(len(codes))
        share[: len(weights)] = weights
        exp = n * share
        obs = np.array([per_model.get(code, 0) for code in codes], dtype=float)
        observed += obs
        expected += exp
        hours.append(
            HourSplit(
                bin_start,
                {c: int(v) for c, v in zip(codes, obs, strict=True)},
                {c: float(v) for c, v in zip(codes, exp, strict=True)},
            )
        )
    obs_counts = [int(v) for v in observed]
    if sum(obs_counts) == 0:
        # No traffic: compare against the shares so that srm_test reports "no evidence".
        exp_for_test = list(weights_at(schedule, datetime.max)) + [0.0] * (
            len(codes) - len(experiment.model_codes)
        )
    else:
        exp_for_test = [float(v) for v in expected]
    result = srm_test(obs_counts, exp_for_test, threshold)
    return SplitCheck(
        experiment_id=experiment.experiment_id,
        model_codes=tuple(codes),
        observed=tuple(obs_counts),
        expected=tuple(float(v) for v in result.expected),
        srm=result,
        hours=tuple(hours),
    )


def _normalised(weights: Sequence[float | None]) -> tuple[float, ...] | None:
    values = [float(w) if w is not None else 0.0 for w in weights]
    total = sum(values)
    if total <= 0:
        return None
    return tuple(v / total for v in values)


# --- SRM of the parameter job's hourly metrics, on the assignment unit -------------------------


def assignment_unit(experiment: Experiment) -> str:
    """What the experiment randomises: ``members`` (hashed) or ``impressions`` (drawn).

    A static test and a sticky dynamic test place the member by a hash, so every visit of a
    member goes to the same arm and the member is the unit. A draw-mode test draws per selector
    call, and the answer cache repeats that draw for the member's later views: its unit is the
    ``draws``, each member's first impression under a batch.
    """
    if experiment.type is ExperimentType.STATIC or experiment.serving_mode is ServingMode.STICKY:
        return "members"
    return "draws"


def weights_by_batch(batches: Iterable[ParameterBatch]) -> dict[str, dict[str, float]]:
    """``{batch_id: {model_code: weight}}``: what each parameter batch served."""
    return {b.batch_id: {a.model_code: float(a.weight) for a in b.arms} for b in batches}


def experiment_srm(
    experiment: Experiment,
    rows: Iterable[Mapping[str, Any] | object],
    batches: Sequence[ParameterBatch] = (),
    *,
    threshold: float = 0.001,
) -> UnitSrm:
    """The SRM check of an experiment's hourly metrics on its assignment unit.

    * static: first assignments of members (``first_members_by_batch``, all batches) against
      the configured split;
    * dynamic, sticky: first assignments of members, each against the weights of the batch it
      was made under;
    * dynamic, draw: each member's first impression under a batch
      (``first_views_by_batch``: one selector draw each) against that batch's weights; hours
      counted before that field existed fall back to impressions per batch
      (``impressions_by_batch``, over-dispersed by the answer cache).

    Units logged without a batch id are judged against the warm-up split when they fall before
    the first batch went live (the selector had no batch to name), and left out afterwards
    (older logs; counted in ``excluded``), as are units of a batch missing from ``batches``.

    Args:
        experiment: The experiment (type, serving mode, arms, configured split).
        rows: Its hourly metrics over the window, as dicts or objects (see
            :func:`services.statistics.srm.srm_by_batch` for the fields read).
        batches: The parameter batches whose weights served the window (its history).
        threshold: SRM significance threshold.
    """
    rows = list(rows)
    unit = assignment_unit(experiment)
    if unit == "draws" and not any(_counted(row, UNIT_FIELDS["draws"]) for row in rows):
        unit = "impressions"  # hours counted before draws were: the clustered impressions
    return _srm_of(experiment, rows, batches, unit, threshold)


def _counted(row: Mapping[str, Any] | object, name: str) -> bool:
    value = row.get(name) if isinstance(row, Mapping) else getattr(row, name, None)
    return bool(value) and any(int(v) > 0 for v in value.values())


# --- the selector's log lines, each against the batch it was served under ----------------------


@dataclass(frozen=True)
class SelectionCheck:
    """The selector's answers of one experiment against the weights each was served with.

    ``srm.unit`` is ``members`` (each member's first selection in the window: hashed tests,
    when the log lines carry member hashes) or ``impressions`` (every selection: draw-mode
    tests, or when members cannot be told apart). ``hours`` breaks the counted units down per
    bin with their expected counts.
    """

    experiment_id: str
    srm: UnitSrm
    selections: dict[str, int]
    hours: tuple[HourSplit, ...]

    @property
    def mismatch(self) -> bool:
        return self.srm.mismatch


def check_selections(
    experiment: Experiment,
    counts: Sequence[ModelCount],
    batches: Sequence[ParameterBatch] = (),
    *,
    current: ParameterSnapshot | None = None,
    threshold: float = 0.001,
) -> SelectionCheck:
    """Check the models the selector returned against the batch each line names.

    Only selections whose reason follows the split (``bts``, ``warmup``, ``static``) count.
    A static test is judged against its split whatever the batch; a dynamic one against the
    weights of the batch in each log line (the warm-up split for lines from before the first
    batch). Counting the line's own batch, not the batch in force at the top of the hour,
    keeps the answers the API Gateway cache served after a new batch landed -- and a batch
    landing minutes after the hour -- from reading as a mismatch.

    Args:
        experiment: The experiment.
        counts: The selector's counts (:meth:`services.ops.source.OpsSource.model_counts`).
        batches: The experiment's parameter batches over the window.
        current: The current parameters, for a batch not yet in ``batches``.
        threshold: SRM significance threshold.
    """
    mine = [
        c
        for c in counts
        if c.experiment_id == experiment.experiment_id and c.reason in SPLIT_REASONS
    ]
    by_members = assignment_unit(experiment) == "members" and all(
        c.first_members is not None for c in mine
    )
    rows = [
        {
            "model_code": c.model_code,
            "hour": c.bin_start,
            "impressions_by_batch": {c.batch_id or UNKNOWN_BATCH: c.count},
            "first_members_by_batch": {c.batch_id or UNKNOWN_BATCH: c.first_members or 0},
        }
        for c in mine
    ]
    known = list(batches)
    if (
        current is not None
        and current.batch_id
        and current.has_weights
        and all(b.batch_id != current.batch_id for b in known)
    ):
        known.append(_as_batch(experiment, current))
    srm = _srm_of(experiment, rows, known, "members" if by_members else "impressions", threshold)
    selections: dict[str, int] = {}
    for c in mine:
        selections[c.model_code] = selections.get(c.model_code, 0) + c.count
    hours = []
    for hour in sorted({r["hour"] for r in rows}):
        in_hour = [r for r in rows if r["hour"] == hour]
        part = _srm_of(experiment, in_hour, known, srm.unit, threshold)
        hours.append(
            HourSplit(
                hour,
                dict(zip(part.model_codes, part.observed, strict=True)),
                dict(zip(part.model_codes, part.expected, strict=True)),
            )
        )
    return SelectionCheck(experiment.experiment_id, srm, selections, tuple(hours))


def _srm_of(
    experiment: Experiment,
    rows: list[Any],
    batches: Sequence[ParameterBatch],
    unit: str,
    threshold: float,
) -> UnitSrm:
    codes = experiment.model_codes
    configured = dict(zip(codes, experiment.normalised_weights, strict=True))
    if experiment.type is ExperimentType.STATIC:
        return srm_by_batch(rows, codes, unit=unit, split=configured, threshold=threshold)
    # A batch goes live when written; without that time, assume within the hour after its end.
    went_live = [b.created_at or b.window_end + timedelta(hours=1) for b in batches]
    return srm_by_batch(
        rows,
        codes,
        unit=unit,
        weights_by_batch=weights_by_batch(batches),
        unbatched_weights=configured,
        unbatched_before=min(went_live) if went_live else None,
        threshold=threshold,
    )


def _as_batch(experiment: Experiment, snapshot: ParameterSnapshot) -> ParameterBatch:
    when = snapshot.computed_at or datetime.min
    return ParameterBatch(
        experiment_id=experiment.experiment_id,
        batch_id=str(snapshot.batch_id),
        window_start=when,
        window_end=when,
        arms=tuple(
            BatchArm(a.model_code, a.alpha, a.beta, None, float(a.weight or 0.0))
            for a in snapshot.for_models(experiment.model_codes)
        ),
        warmup=snapshot.warmup,
        created_at=snapshot.computed_at,
    )
