"""Epsilon-greedy, for the simulation lab only.

The seed's team simulated it against Thompson sampling before choosing Thompson sampling:
epsilon-greedy explores at a fixed rate forever and spreads that exploration evenly over bad
and promising arms alike, where Thompson sampling explores in proportion to the doubt.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from services.algorithms.base import Policy, argmax_random_tie, check_probability
from services.algorithms.counts import check_impressions_clicks


@dataclass(frozen=True)
class EpsilonGreedy(Policy):
    """With probability ``epsilon`` serve a uniformly random arm, else the best observed CTR.

    An arm without impressions has an observed CTR of 0 (no evidence yet), and ties between
    the best arms are broken at random. Build one per batch for a batched simulation, or one
    per event for the classic per-event algorithm.

    Attributes:
        impressions: Impressions per arm.
        clicks: Clicks per arm (at most the impressions).
        epsilon: Exploration rate in [0, 1].
    """

    impressions: tuple[int, ...]
    clicks: tuple[int, ...]
    epsilon: float = 0.1

    def __post_init__(self) -> None:
        imps, clks = check_impressions_clicks(self.impressions, self.clicks)
        object.__setattr__(self, "impressions", imps)
        object.__setattr__(self, "clicks", clks)
        object.__setattr__(self, "epsilon", check_probability("epsilon", self.epsilon))

    @property
    def n_arms(self) -> int:
        return len(self.impressions)

    @property
    def ctr(self) -> tuple[float, ...]:
        """Observed click rate per arm; 0 for an arm with no impressions."""
        return tuple(
            c / n if n else 0.0 for n, c in zip(self.impressions, self.clicks, strict=True)
        )

    def choose(self, member_id: str, rng: np.random.Generator) -> int:
        if self.epsilon > 0.0 and rng.random() < self.epsilon:
            return int(rng.integers(self.n_arms))
        return argmax_random_tie(self.ctr, rng)


def epsilon_greedy(
    impressions: Sequence[int], clicks: Sequence[int], epsilon: float = 0.1
) -> EpsilonGreedy:
    """Shorthand for :class:`EpsilonGreedy`."""
    return EpsilonGreedy(tuple(impressions), tuple(clicks), epsilon)
