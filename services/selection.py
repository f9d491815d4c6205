"""Which model serves this member now: the one function the serving layer calls.

:func:`select_model` is pure (configuration, parameters, the clock and the generator come in as
arguments) and cheap on the hot path: everything that depends only on the experiment and the
parameter batch -- validated weights, cumulative buckets, the sticky P(best) integration -- is
built once into a :class:`_Plan` and kept in a small bounded cache, so a request costs a hash or
a handful of Beta draws.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from services.algorithms.base import Policy, Reason, Selection
from services.algorithms.static_split import static_split_policy
from services.algorithms.sticky import sticky_bts_policy
from services.algorithms.thompson import ThompsonSampling, sticky_weights
from services.algorithms.warmup import (
    impressions_reached,
    naive_utc,
    warmup_ends_at,
    warmup_policy,
)
from services.exceptions import ValidationError
from services.experiments import Experiment, ExperimentType, ServingMode, Status
from services.parameters import ArmParameters, ParameterSnapshot

#: Plans kept at once. An area has one active experiment and a plan lives for one batch, so a
#: few hundred covers every area of a site with room to spare; memory per plan is tiny.
CACHE_SIZE = 256

#: How far from 1 stored weights may sum and still be trusted as the batch's shares.
_STORED_SUM_TOLERANCE = 1e-6


@dataclass
class _Plan:
    """What one (experiment, snapshot) pair needs per request, built once."""

    experiment: Experiment
    snapshot: ParameterSnapshot
    model_codes: tuple[str, ...]
    control_index: int
    warmup_ends: datetime | None
    impressions_ready: bool
    # Built on first use: a static test never needs the bandit, a warm test never the warm-up.
    policies: dict[str, Policy] = field(default_factory=dict)


_cache: dict[tuple[str, str | None], _Plan] = {}
_cache_lock = threading.Lock()


def clear_cache() -> None:
    """Forget every plan (tests and benchmarks measure the cold path with it)."""
    with _cache_lock:
        _cache.clear()


def select_model(
    experiment: Experiment,
    snapshot: ParameterSnapshot,
    member_id: str,
    now: datetime,
    rng: np.random.Generator,
) -> Selection:
    """Choose the model that serves ``member_id`` in ``experiment`` at ``now``.

    * paused -> the control model, reason ``paused``;
    * static -> the fixed split by member hash, reason ``static``;
    * dynamic, warming up -> the configured split, reason ``warmup``;
    * dynamic, warm -> batched Thompson sampling, reason ``bts``: a Beta draw per request in
      ``draw`` mode, the member's hash bucket of the batch's P(best) in ``sticky`` mode, both
      with the experiment's exposure floor.

    Every answer carries the snapshot's ``batch_id``.

    Args:
        experiment: A running or paused experiment.
        snapshot: The experiment's current parameter snapshot.
        member_id: Who asks (non-empty).
        now: The current time (naive UTC, or aware and converted).
        rng: The generator for draw-mode requests; hashing paths never touch it.

    Returns:
        The selection.

    Raises:
        ValidationError: If the experiment is a draft or stopped, the snapshot belongs to another
            experiment, or ``member_id`` is empty.
    """
    if not isinstance(member_id, str) or not member_id:
        raise ValidationError("member_id", "is required and must be a non-empty string")
    plan = _plan_for(experiment, snapshot)
    batch_id = snapshot.batch_id
    status = experiment.status
    if status is Status.PAUSED:
        i = plan.control_index
        return Selection(plan.model_codes[i], Reason.PAUSED, batch_id, i)
    if status is not Status.RUNNING:
        raise ValidationError(
            "status",
            f"experiment {experiment.experiment_id} is {status.value}; "
            "only a running or paused experiment selects models",
        )
    if experiment.type is ExperimentType.STATIC:
        reason = Reason.STATIC
    elif (
        plan.impressions_ready
        and plan.warmup_ends is not None
        and (now if now.tzinfo is None else naive_utc(now)) >= plan.warmup_ends
    ):
        reason = Reason.BTS
    else:
        reason = Reason.WARMUP
    policy = plan.policies.get(reason) or _build_policy(plan, reason)
    i = policy.choose(member_id, rng)
    return Selection(plan.model_codes[i], reason, batch_id, i)


def _plan_for(experiment: Experiment, snapshot: ParameterSnapshot) -> _Plan:
    key = (experiment.experiment_id, snapshot.batch_id)
    plan = _cache.get(key)
    # The key only finds the slot; the plan is reused only for the very same configuration and
    # parameters. Identity is the common case (the caller keeps its objects for a batch) and
    # costs nothing; equality covers freshly loaded copies; anything else rebuilds.
    if plan is not None and (
        (plan.experiment is experiment or plan.experiment == experiment)
        and (plan.snapshot is snapshot or plan.snapshot == snapshot)
    ):
        return plan
    plan = _new_plan(experiment, snapshot)
    with _cache_lock:
        if key not in _cache and len(_cache) >= CACHE_SIZE:
            # Oldest first: dicts keep insertion order, and a plan outlives its batch only by
            # accident, so evicting by age is as good as LRU here and cheaper.
            del _cache[next(iter(_cache))]
        _cache[key] = plan
    return plan


def _new_plan(experiment: Experiment, snapshot: ParameterSnapshot) -> _Plan:
    if snapshot.experiment_id != experiment.experiment_id:
        raise ValidationError(
            "snapshot.experiment_id",
            f"parameters of {snapshot.experiment_id} cannot serve {experiment.experiment_id}",
        )
    codes = experiment.model_codes
    return _Plan(
        experiment=experiment,
        snapshot=snapshot,
        model_codes=codes,
        control_index=codes.index(experiment.control_arm.model_code),
        warmup_ends=warmup_ends_at(experiment),
        impressions_ready=impressions_reached(experiment, snapshot),
    )


def _build_policy(plan: _Plan, reason: str) -> Policy:
    experiment, snapshot = plan.experiment, plan.snapshot
    if reason == Reason.STATIC:
        policy: Policy = static_split_policy(experiment)
    elif reason == Reason.WARMUP:
        policy = warmup_policy(experiment, snapshot.batch_id)
    else:
        params = snapshot.for_models(plan.model_codes)
        floor = experiment.exposure_floor
        if experiment.serving_mode is ServingMode.DRAW:
            policy = ThompsonSampling.from_parameters(params, floor)
        else:
            policy = sticky_bts_policy(
                experiment.experiment_id, snapshot.batch_id, _batch_weights(snapshot, params, floor)
            )
    plan.policies[reason] = policy
    return policy


def _batch_weights(
    snapshot: ParameterSnapshot, params: Sequence[ArmParameters], floor: float
) -> np.ndarray | tuple[float, ...]:
    """The sticky shares: the parameter job's stored weights when usable, else computed.

    Stored weights are used only outside the job's warm-up (during it the job may store the
    warm-up split, not P(best)) and only when every arm has one and they sum to 1; otherwise
    P(best) is integrated here, once per batch.
    """
    weights = [p.weight for p in params]
    if (
        not snapshot.warmup
        and all(w is not None for w in weights)
        and abs(math.fsum(weights) - 1.0) <= _STORED_SUM_TOLERANCE
    ):
        return tuple(weights)
    return sticky_weights(params, floor)
