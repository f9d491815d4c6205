"""Warm-up of a dynamic test: explore with the configured split before the bandit decides.

Early counts are tiny and noisy; Thompson sampling on them would hand most of the traffic to
whichever model had a lucky first hour. So a new dynamic test serves its configured weights
(``experiment.normalised_weights``) until both ``warmup_hours`` have passed since it started
and every arm has at least ``warmup_min_impressions`` impressions in the current snapshot.

How the warm-up split is applied follows the experiment's serving mode, so that a test behaves
the same way before and after warm-up: in ``sticky`` mode the member is placed by
``unit_hash(member_id, experiment.hash_salt, batch_id)`` (the member keeps its model for the
batch), in ``draw`` mode each request draws with the injected generator.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np

from services.algorithms.base import Policy
from services.algorithms.sticky import HashedSplit
from services.experiments import Experiment, ServingMode
from services.hashing import bucket_of, cumulative_weights
from services.parameters import ParameterSnapshot


def naive_utc(moment: datetime) -> datetime:
    """``moment`` as a naive UTC datetime, the form experiments store (as MongoDB returns them)."""
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)


def warmup_ends_at(experiment: Experiment) -> datetime | None:
    """When the warm-up's time condition is met, or ``None`` if the test has not started."""
    if experiment.started_at is None:
        return None
    return naive_utc(experiment.started_at) + timedelta(hours=experiment.warmup_hours)


def impressions_reached(experiment: Experiment, snapshot: ParameterSnapshot) -> bool:
    """True when every arm has at least ``warmup_min_impressions`` impressions in the snapshot.

    An arm missing from the snapshot counts as zero impressions.
    """
    need = experiment.warmup_min_impressions
    return all(p.impressions >= need for p in snapshot.for_models(experiment.model_codes))


def in_warmup(experiment: Experiment, snapshot: ParameterSnapshot, now: datetime) -> bool:
    """Whether a dynamic test still serves its configured split.

    True until ``warmup_hours`` have passed since ``started_at`` (the instant itself ends the
    time condition) AND every arm has ``warmup_min_impressions`` impressions. A test without a
    ``started_at`` stays in warm-up: nothing shows it has warmed up, and exploring is the safe
    side.

    Args:
        experiment: The dynamic experiment.
        snapshot: Its current parameter snapshot (the counts of the evaluation window).
        now: The current time (naive UTC, or aware and converted).
    """
    ends = warmup_ends_at(experiment)
    if ends is None or naive_utc(now) < ends:
        return True
    return not impressions_reached(experiment, snapshot)


@dataclass(frozen=True)
class WeightedDraw(Policy):
    """Serve arm k with probability ``weights[k] / sum(weights)``, one uniform draw per request.

    Attributes:
        weights: Share per arm (non-negative, positive total).
    """

    weights: tuple[float, ...]
    _cumulative: tuple[float, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        weights = tuple(float(w) for w in self.weights)
        object.__setattr__(self, "weights", weights)
        object.__setattr__(self, "_cumulative", cumulative_weights(weights))

    @property
    def n_arms(self) -> int:
        return len(self.weights)

    def choose(self, member_id: str, rng: np.random.Generator) -> int:
        return bucket_of(rng.random(), self._cumulative)


def warmup_policy(experiment: Experiment, batch_id: str | None) -> Policy:
    """The warm-up split for one batch, hashed or drawn following the serving mode.

    Args:
        experiment: The dynamic experiment.
        batch_id: The current batch (``None`` before the first batch hashes as ``""``).
    """
    if experiment.serving_mode is ServingMode.STICKY:
        return HashedSplit(experiment.normalised_weights, (experiment.hash_salt, batch_id or ""))
    return WeightedDraw(experiment.normalised_weights)
