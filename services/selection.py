"""Which model serves this member now: the one function the serving layer calls.

:func:`select_model` is pure (configuration, parameters, the clock and the generator come in as
arguments) and cheap on the hot path: everything that depends only on the experiment and the
parameter batch -- validated weights, cumulative buckets, the P(best) integration -- is built
once into a :class:`_Plan` and kept in a small bounded cache, so a request costs a hash or a
handful of Beta draws.

The selector follows the batch: whether a dynamic test is still warming up is the batch's
``warmup`` flag, decided by the parameter job at the batch's end, never the selector's own clock.
A clock-based switch would change the policy in the middle of a batch (a test started at 10:30
with 6 h of warm-up would serve bandit weights from 16:30 while the batch in force still says
warm-up), so no batch would describe what was served, and neither the logged propensities nor
the split check could be trusted. Policy and weights therefore change only when a batch lands.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

import numpy as np

from services.algorithms.base import Policy, Reason, Selection
from services.algorithms.static_split import static_split_policy
from services.algorithms.sticky import sticky_bts_policy
from services.algorithms.thompson import ThompsonSampling, sticky_weights
from services.algorithms.warmup import warmup_policy
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
    # Switched-off models are left out: ``view`` is the experiment over the enabled arms only
    # and ``view_snapshot`` its parameters (stored weights renormalised); ``index_map`` takes a
    # view index back to the experiment's arm index.
    view: Experiment
    view_snapshot: ParameterSnapshot
    index_map: tuple[int, ...]
    # Built on first use: a static test never needs the bandit, a warm test never the warm-up.
    # ``shares`` holds each policy's serving probability per arm (the logged propensities).
    policies: dict[str, Policy] = field(default_factory=dict)
    shares: dict[str, tuple[float | None, ...]] = field(default_factory=dict)


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
    * dynamic, and the batch in force says warm-up -> the configured split, reason ``warmup``;
    * dynamic, and the batch says the warm-up is over -> batched Thompson sampling, reason
      ``bts``: a Beta draw per request in ``draw`` mode, the member's hash bucket of the
      batch's P(best) in ``sticky`` mode, both with the experiment's exposure floor.

    Every answer carries the snapshot's ``batch_id`` and the ``propensity`` of the model served
    under the policy in force (see :class:`Selection`).

    Args:
        experiment: A running or paused experiment.
        snapshot: The experiment's current parameter snapshot.
        member_id: Who asks (non-empty).
        now: The current time. Not used to decide anything today (the batch decides the
            warm-up); kept so that callers state when they ask.
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
        return Selection(plan.model_codes[i], Reason.PAUSED, batch_id, i, 1.0)
    if status is not Status.RUNNING:
        raise ValidationError(
            "status",
            f"experiment {experiment.experiment_id} is {status.value}; "
            "only a running or paused experiment selects models",
        )
    if experiment.type is ExperimentType.STATIC:
        reason = Reason.STATIC
    elif snapshot.warmup:
        reason = Reason.WARMUP
    else:
        reason = Reason.BTS
    policy = plan.policies.get(reason) or _build_policy(plan, reason)
    j = policy.choose(member_id, rng)
    i = plan.index_map[j]
    return Selection(plan.model_codes[i], reason, batch_id, i, plan.shares[reason][j])


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
    view, view_snapshot = experiment, snapshot
    index_map = tuple(range(len(codes)))
    if experiment.disabled_models:
        view, view_snapshot = _enabled_view(experiment, snapshot)
        index_map = tuple(codes.index(c) for c in view.model_codes)
    return _Plan(
        experiment=experiment,
        snapshot=snapshot,
        model_codes=codes,
        control_index=codes.index(experiment.control_arm.model_code),
        view=view,
        view_snapshot=view_snapshot,
        index_map=index_map,
    )


def _enabled_view(
    experiment: Experiment, snapshot: ParameterSnapshot
) -> tuple[Experiment, ParameterSnapshot]:
    """The experiment and snapshot without the switched-off models, weights renormalised.

    A switched-off model gets weight 0 and the others share its weight in proportion; when the
    stored weights of the models left sum to nothing, they are left out and the selector works
    the shares out from the counts.
    """
    enabled = experiment.enabled_model_codes
    view = experiment.with_changes(
        arms=tuple(a for a in experiment.arms if a.model_code in enabled), disabled_models=()
    )
    params = snapshot.for_models(enabled)
    weights = [p.weight for p in params]
    total = math.fsum(w for w in weights if w is not None)
    if all(w is not None for w in weights) and total > 0:
        params = tuple(replace(p, weight=p.weight / total) for p in params)  # type: ignore[operator]
    else:
        params = tuple(replace(p, weight=None) for p in params)
    return view, replace(snapshot, arms=params)


def _build_policy(plan: _Plan, reason: str) -> Policy:
    experiment, snapshot = plan.view, plan.view_snapshot
    shares: Sequence[float] | np.ndarray | None
    if reason == Reason.STATIC:
        policy: Policy = static_split_policy(experiment)
        shares = experiment.normalised_weights
    elif reason == Reason.WARMUP:
        policy = warmup_policy(experiment, snapshot.batch_id)
        shares = experiment.normalised_weights
    else:
        params = snapshot.for_models(experiment.model_codes)
        floor = experiment.exposure_floor
        if experiment.serving_mode is ServingMode.DRAW:
            policy = ThompsonSampling.from_parameters(params, floor)
            shares = _draw_shares(params, floor)
        else:
            shares = _batch_weights(params, floor)
            policy = sticky_bts_policy(experiment.experiment_id, snapshot.batch_id, shares)
    plan.shares[reason] = _propensities(shares, len(experiment.model_codes))
    plan.policies[reason] = policy
    return policy


def _propensities(
    shares: Sequence[float] | np.ndarray | None, n_arms: int
) -> tuple[float | None, ...]:
    """Shares scaled to sum to 1; a share that is not positive has no stated propensity."""
    if shares is None:
        return (None,) * n_arms
    values = [float(x) for x in shares]
    total = math.fsum(values)
    return tuple(min(x / total, 1.0) if x > 0.0 and total > 0.0 else None for x in values)


def _draw_shares(
    params: Sequence[ArmParameters], floor: float
) -> np.ndarray | tuple[float, ...] | None:
    """Draw mode's serving probabilities: ``f + (1 - K f) P(best)`` of the batch's counts.

    A per-request Beta draw over fixed counts serves arm k with exactly this probability. The
    parameter job stores it as each arm's ``weight`` (computed from the same counts), so the
    stored weights are used when usable -- no integration on the selector's cold path -- and
    integrated here otherwise. Counts beyond the integration's range leave the propensities
    unknown.
    """
    try:
        return _batch_weights(params, floor)
    except ValidationError:
        return None


def _batch_weights(params: Sequence[ArmParameters], floor: float) -> np.ndarray | tuple[float, ...]:
    """The sticky shares: the parameter job's stored weights when usable, else computed.

    Only a warm batch reaches here (a warm-up batch serves the warm-up split), so the stored
    weights are the job's P(best) with the floor; they are used when every arm has one and they
    sum to 1, otherwise P(best) is integrated here, once per batch.
    """
    weights = [p.weight for p in params]
    if all(w is not None for w in weights) and (
        abs(math.fsum(weights) - 1.0) <= _STORED_SUM_TOLERANCE  # type: ignore[arg-type]
    ):
        return tuple(weights)  # type: ignore[arg-type]
    return sticky_weights(params, floor)
