"""Beta posterior of an arm's click-through rate.

Each impression is a Bernoulli trial (clicked or not) with an unknown CTR ``p``. With a
``Beta(prior_a, prior_b)`` prior the posterior after ``clicks`` successes out of ``impressions``
trials is ``Beta(prior_a + clicks, prior_b + non_clicks)`` (conjugacy). dynab uses the uniform prior
``Beta(1, 1)``, which is what the bandit samples from: ``Beta(1 + alpha, 1 + beta)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import special, stats

from services.exceptions import ValidationError
from services.statistics._validation import check_positive_finite, check_probability
from services.statistics.counts import ArmCounts


@dataclass(frozen=True)
class BetaPosterior:
    """A ``Beta(a, b)`` distribution over a click-through rate.

    Attributes:
        a: First shape parameter (prior pseudo-clicks plus clicks), > 0.
        b: Second shape parameter (prior pseudo-non-clicks plus non-clicks), > 0.
    """

    a: float
    b: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "a", check_positive_finite("a", self.a))
        object.__setattr__(self, "b", check_positive_finite("b", self.b))

    @classmethod
    def from_counts(
        cls, counts: ArmCounts, prior_a: float = 1.0, prior_b: float = 1.0
    ) -> BetaPosterior:
        """Posterior after observing ``counts`` under a ``Beta(prior_a, prior_b)`` prior.

        Args:
            counts: The arm's impressions and clicks (orders are ignored).
            prior_a: Prior pseudo-clicks; 1.0 with ``prior_b`` = 1.0 is the uniform prior.
            prior_b: Prior pseudo-non-clicks.

        Returns:
            ``Beta(prior_a + clicks, prior_b + non_clicks)``.
        """
        if not isinstance(counts, ArmCounts):
            raise ValidationError("counts", f"must be ArmCounts, got {type(counts).__name__}")
        prior_a = check_positive_finite("prior_a", prior_a)
        prior_b = check_positive_finite("prior_b", prior_b)
        return cls(prior_a + counts.clicks, prior_b + counts.non_clicks)

    @property
    def mean(self) -> float:
        """Posterior mean ``a / (a + b)``."""
        return self.a / (self.a + self.b)

    @property
    def variance(self) -> float:
        """Posterior variance ``ab / ((a + b)^2 (a + b + 1))``."""
        total = self.a + self.b
        return self.a * self.b / (total * total * (total + 1.0))

    @property
    def std(self) -> float:
        """Posterior standard deviation."""
        return math.sqrt(self.variance)

    def credible_interval(self, level: float = 0.95) -> tuple[float, float]:
        """Equal-tailed credible interval: ``(1 - level) / 2`` of the mass lies on each side.

        Args:
            level: Posterior mass inside the interval, strictly between 0 and 1.

        Returns:
            ``(low, high)``.
        """
        level = check_probability("level", level)
        tail = (1.0 - level) / 2.0
        return self._quantiles(tail)

    def grid(self, n: int = 400, coverage: float = 1.0 - 1e-6) -> np.ndarray:
        """Evenly spaced CTR values covering where the density lives, for plotting.

        A fixed grid on [0, 1] is useless for a model with millions of impressions: its
        posterior's standard deviation is ~1e-4 and the whole curve would fall between two grid
        points. The grid spans the central ``coverage`` of the posterior mass instead.

        Args:
            n: Number of points, at least 2.
            coverage: Posterior mass between the first and the last point.

        Returns:
            ``n`` increasing values in [0, 1].
        """
        if isinstance(n, bool) or not isinstance(n, int) or n < 2:
            raise ValidationError("n", f"must be an integer >= 2, got {n!r}")
        coverage = check_probability("coverage", coverage)
        low, high = self._quantiles((1.0 - coverage) / 2.0)
        return np.linspace(low, high, n)

    def density(self, x: np.ndarray | Sequence[float] | float) -> np.ndarray:
        """Probability density at ``x`` (0 outside [0, 1])."""
        return np.asarray(stats.beta.pdf(np.asarray(x, dtype=np.float64), self.a, self.b))

    def _quantiles(self, tail: float) -> tuple[float, float]:
        # The upper quantile comes from the complemented incomplete beta function so that a tail
        # of 1e-9 is not rounded away by computing 1 - 1e-9 first.
        low = float(special.betaincinv(self.a, self.b, tail))
        high = float(special.betainccinv(self.a, self.b, tail))
        return low, high


def beta_posterior(clicks: int, impressions: int) -> BetaPosterior:
    """Posterior of an arm's CTR under the uniform prior: ``Beta(1 + clicks, 1 + non_clicks)``.

    Args:
        clicks: Clicked impressions.
        impressions: All impressions.

    Returns:
        The posterior the bandit samples from.
    """
    return BetaPosterior.from_counts(ArmCounts(impressions=impressions, clicks=clicks))


def common_grid(posteriors: Sequence[BetaPosterior], n: int = 400) -> np.ndarray:
    """One increasing grid on which every posterior in ``posteriors`` is well resolved.

    A single linspace over all of them fails when one model has 10 impressions and another
    10 million: the narrow curve would get one or two points. The grid is the union of each
    posterior's own ``grid(n)``, so it has between ``n`` and ``len(posteriors) * n`` points.

    Args:
        posteriors: At least one posterior.
        n: Points per posterior.

    Returns:
        Sorted, de-duplicated CTR values.
    """
    if len(posteriors) < 1:
        raise ValidationError("posteriors", "needs at least one posterior")
    for index, posterior in enumerate(posteriors):
        if not isinstance(posterior, BetaPosterior):
            raise ValidationError(
                f"posteriors[{index}]", f"must be a BetaPosterior, got {type(posterior).__name__}"
            )
    return np.unique(np.concatenate([posterior.grid(n) for posterior in posteriors]))
