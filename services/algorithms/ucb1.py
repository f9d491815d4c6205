"""UCB1 (Auer, Cesa-Bianchi and Fischer, 2002), for the simulation lab only."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from services.algorithms.base import Policy, argmax_random_tie
from services.algorithms.counts import check_impressions_clicks


@dataclass(frozen=True)
class UCB1(Policy):
    """Play every arm once, then the arm maximising ``mean_k + sqrt(2 ln n / n_k)``.

    ``mean_k`` is arm k's observed CTR, ``n_k`` its impressions and ``n`` all impressions.
    Unplayed arms are played in arm order (the classic initialisation); ties of the index are
    broken at random. UCB1 is deterministic given the counts, so in a batched simulation it
    serves one arm for a whole batch -- an honest picture of UCB1 under batching.

    Attributes:
        impressions: Impressions per arm.
        clicks: Clicks per arm (at most the impressions).
    """

    impressions: tuple[int, ...]
    clicks: tuple[int, ...]

    def __post_init__(self) -> None:
        imps, clks = check_impressions_clicks(self.impressions, self.clicks)
        object.__setattr__(self, "impressions", imps)
        object.__setattr__(self, "clicks", clks)

    @property
    def n_arms(self) -> int:
        return len(self.impressions)

    def index(self) -> tuple[float, ...]:
        """The upper confidence bound per arm (``inf`` for an unplayed arm)."""
        log_n = math.log(sum(self.impressions)) if any(self.impressions) else 0.0
        return tuple(
            c / n + math.sqrt(2.0 * log_n / n) if n else math.inf
            for n, c in zip(self.impressions, self.clicks, strict=True)
        )

    def choose(self, member_id: str, rng: np.random.Generator) -> int:
        if 0 in self.impressions:
            return self.impressions.index(0)
        return argmax_random_tie(self.index(), rng)
