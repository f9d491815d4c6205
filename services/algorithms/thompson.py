"""Batched Thompson sampling (bTS), the dynamic test's algorithm, in draw mode.

Each arm k has ``alpha_k`` clicks and ``beta_k`` non-clicks over the evaluation window. Per
request, draw ``x_k ~ Beta(1 + alpha_k, 1 + beta_k)`` for every arm and serve ``argmax_k x_k``
(the seed's own selector). The counts stay fixed for a whole batch, so within a batch arm k is
served with probability P(k is best) -- which is what lets the sticky mode (:mod:`.sticky`)
serve the same shares by hashing members into buckets of those sizes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from services.algorithms.base import Policy, argmax_random_tie, check_counts
from services.algorithms.floor import apply_floor, check_floor
from services.exceptions import ValidationError
from services.parameters import ArmParameters


@dataclass(frozen=True)
class ThompsonSampling(Policy):
    """Per-request Thompson draw over fixed counts, with an optional exposure floor.

    With a floor ``f`` over ``K`` arms, a request is served uniformly at random with probability
    ``K f`` and by the Thompson draw otherwise, so arm k is served with probability
    ``f + (1 - K f) P(k best)``: the same shares as :func:`sticky_weights`.

    Attributes:
        alphas: Clicks per arm.
        betas: Non-clicks per arm.
        floor: Minimum share per arm, ``0 <= floor`` and ``floor * K < 1``.
    """

    alphas: tuple[int, ...]
    betas: tuple[int, ...]
    floor: float = 0.0
    _a: np.ndarray = field(init=False, repr=False, compare=False)
    _b: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        alphas = check_counts("alphas", self.alphas)
        betas = check_counts("betas", self.betas)
        if len(alphas) != len(betas):
            raise ValidationError(
                "betas", f"need one per arm: {len(alphas)} alphas but {len(betas)} betas"
            )
        object.__setattr__(self, "alphas", alphas)
        object.__setattr__(self, "betas", betas)
        object.__setattr__(self, "floor", check_floor(self.floor, len(alphas)))
        # The +1 is the uniform Beta(1, 1) prior; precomputed once, not per request.
        object.__setattr__(self, "_a", 1.0 + np.asarray(alphas, dtype=float))
        object.__setattr__(self, "_b", 1.0 + np.asarray(betas, dtype=float))

    @classmethod
    def from_parameters(
        cls, params: Sequence[ArmParameters], floor: float = 0.0
    ) -> ThompsonSampling:
        """Build from a snapshot's arm parameters (in the experiment's arm order)."""
        return cls(tuple(p.alpha for p in params), tuple(p.beta for p in params), floor)

    @property
    def n_arms(self) -> int:
        return len(self.alphas)

    def choose(self, member_id: str, rng: np.random.Generator) -> int:
        """Draw once from every arm's posterior and return the best arm's index.

        With a floor, one uniform number decides both whether to explore and which arm:
        ``u < K f`` happens with probability ``K f``, and then ``u / f`` is uniform on
        ``[0, K)``, so its integer part is a uniform arm -- one generator call instead of two.
        """
        if self.floor > 0.0:
            u = rng.random()
            k = self.n_arms
            if u < k * self.floor:
                return min(int(u / self.floor), k - 1)
        return argmax_random_tie(rng.beta(self._a, self._b), rng)


def sticky_weights(params: Sequence[ArmParameters], floor: float = 0.0) -> np.ndarray:
    """The serving shares of a batch: ``apply_floor(P(best) under Beta(1+alpha, 1+beta), floor)``.

    This is arm k's probability of being served in draw mode, computed exactly (numerical
    integration) instead of sampled; the sticky mode cuts the hash range into buckets this size.

    Args:
        params: Arm parameters in the experiment's arm order.
        floor: The exposure floor.

    Returns:
        One share per arm, summing to 1.

    Raises:
        ValidationError: If there are no arms or the floor is invalid.
    """
    if not params:
        raise ValidationError("params", "at least one arm is needed")
    check_floor(floor, len(params))
    a = [1.0 + p.alpha for p in params]
    b = [1.0 + p.beta for p in params]
    # Imported here, not at the top: only the sticky mode's cold path needs it, and a Lambda
    # serving static or draw-mode tests should not pay for loading the integration code.
    try:
        from services.statistics.probability_best import probability_best
    except ImportError:
        # The Lambda package leaves scipy out (it would be most of the package); there, the
        # shares are sampled instead -- only when the batch carries no usable stored weights.
        return apply_floor(sampled_probability_best(a, b), floor)
    return apply_floor(probability_best(a, b), floor)


#: Draws of :func:`sampled_probability_best`: a share's standard error is at most 0.0005.
SAMPLED_DRAWS = 1_000_000
_SAMPLED_CHUNK = 200_000


def sampled_probability_best(
    a: Sequence[float], b: Sequence[float], draws: int = SAMPLED_DRAWS
) -> np.ndarray:
    """P(arm k has the highest draw) under ``Beta(a_k, b_k)``, by seeded Monte Carlo (numpy only).

    The seed is a hash of the parameters, so every selector instance serving the same batch
    computes the very same shares -- which the sticky mode needs, since its buckets must agree
    across instances -- while different batches get independent draws.
    """
    import hashlib

    key = repr((tuple(float(x) for x in a), tuple(float(x) for x in b))).encode()
    rng = np.random.default_rng(int.from_bytes(hashlib.sha256(key).digest()[:8], "big"))
    av, bv = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    wins = np.zeros(len(av), dtype=np.int64)
    done = 0
    while done < draws:
        n = min(_SAMPLED_CHUNK, draws - done)
        best = np.argmax(rng.beta(av, bv, size=(n, len(av))), axis=1)
        wins += np.bincount(best, minlength=len(av))
        done += n
    return wins / float(draws)
