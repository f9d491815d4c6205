"""Quadrature nodes for integrals over several Beta distributions at once.

The quantities dynab reports about a race between arms are one-dimensional integrals:

* ``P(k is best) = ∫ f_k(x) ∏_{i≠k} F_i(x) dx``, and
* ``E[max_i p_i - p_k] = ∫ F_k(x) (1 - ∏_{i≠k} F_i(x)) dx``,

where ``f_i`` and ``F_i`` are the density and CDF of arm i's ``Beta(a_i, b_i)`` posterior. The
difficulty is scale, not dimension. An arm with 1e8 impressions has a posterior standard deviation
of ~2.5e-5 around a CTR of ~0.07, so a fixed grid on [0, 1] never sees it; an arm with 10
impressions spreads over most of [0, 1]. The integrands are smooth only between the points where
some arm's density or CDF changes character, so the range is cut at every arm's quantiles and each
piece gets its own Gauss–Legendre rule:

* the cut points are each arm's quantiles at levels from 1e-13 to 1 - 1e-13 (denser in the tails,
  where a narrow arm's CDF switches from 0 to 1 inside a wider arm's bulk), plus 0.5 on the x axis;
* the range stops at the outermost 1e-13 and 1 - 1e-13 quantiles: beyond them every density
  integrates to at most 1e-13 and every CDF is within 1e-13 of 0 or 1, so the truncation error is
  at most ~2e-13 per arm;
* below x = 0.5 each piece is integrated in ``s = log x`` and above it in ``s = log(1 - x)``.
  Near 0 a Beta density behaves like ``x^(a-1)``, which a polynomial rule in x cannot follow over a
  piece spanning decades (and which is singular for a < 1); in log x it becomes ``exp(a s)``,
  which is smooth. On a narrow piece far from 0 and 1 the map is nearly linear and costs nothing.

Products of CDFs are formed directly, not as sums of logarithms: every factor lies in [0, 1], so a
product can only underflow to 0 where its true value is below 1e-308 and contributes nothing.
Densities come from ``scipy.stats.beta.pdf`` (Boost), which stays accurate to ~1e-12 at a = 1e8;
the textbook log form ``(a-1) log x + (b-1) log(1-x) - log B(a, b)`` adds terms of size ~1e8 and
loses ~1e-8 of relative accuracy there.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special, stats

#: Outermost quantile level kept; the mass beyond it is ignored.
TAIL = 1e-13

# Lower-tail levels; the upper tail uses the same levels through the complemented function.
_LEVELS = np.array(
    [TAIL, 1e-11, 1e-9, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 0.01, 0.03, 0.1, 0.2, 0.3, 0.4, 0.5]
)

# 20 points integrate the smooth pieces to ~1e-14 relative; see the tests against closed forms.
_GL_POINTS, _GL_WEIGHTS = np.polynomial.legendre.leggauss(20)


@dataclass(frozen=True)
class ArmGrid:
    """Every arm's density and CDF at shared quadrature nodes.

    Attributes:
        x: Nodes, shape (N,), increasing.
        weights: Quadrature weights for ``dx`` (the change of variables included), shape (N,).
        pdf: ``pdf[i, n]`` is arm i's density at ``x[n]``, shape (K, N).
        cdf: ``cdf[i, n]`` is arm i's CDF at ``x[n]``, shape (K, N).
        start: Left end of the integration range.
    """

    x: np.ndarray
    weights: np.ndarray
    pdf: np.ndarray
    cdf: np.ndarray
    start: float

    def cdf_of_others(self) -> np.ndarray:
        """``∏_{i≠k} F_i(x)`` for every arm k, shape (K, N).

        Built from prefix and suffix products rather than by dividing the full product by
        ``F_k``, which would be 0/0 wherever ``F_k`` underflows.
        """
        ones = np.ones((1, self.cdf.shape[1]))
        prefix = np.cumprod(np.vstack([ones, self.cdf[:-1]]), axis=0)
        suffix = np.cumprod(np.vstack([ones, self.cdf[:0:-1]]), axis=0)[::-1]
        return prefix * suffix


def quantile_bounds(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each arm's lower and upper quantiles at every level of ``_LEVELS``, shape (K, L) each."""
    lower = special.betaincinv(a[:, None], b[:, None], _LEVELS[None, :])
    upper = special.betainccinv(a[:, None], b[:, None], _LEVELS[None, :])
    return lower, upper


def _nodes(breaks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gauss–Legendre nodes and ``dx`` weights on every piece between consecutive ``breaks``.

    ``breaks`` must be increasing, inside (0, 1) and contain 0.5 whenever they straddle it, so
    that every piece lies on one side of 0.5.
    """
    left, right = breaks[:-1], breaks[1:]
    lower_half = right <= 0.5
    # s = log x below 0.5, s = log(1 - x) above; log1p keeps x close to 1 exact.
    s_left = np.where(lower_half, np.log(left), np.log1p(-left))
    s_right = np.where(lower_half, np.log(right), np.log1p(-right))
    centre = (s_left + s_right) / 2.0
    half = (s_right - s_left) / 2.0
    s = centre[:, None] + half[:, None] * _GL_POINTS[None, :]
    exp_s = np.exp(s)
    x = np.where(lower_half[:, None], exp_s, -np.expm1(s))
    # dx = e^s ds below 0.5 and dx = -e^s ds above; there s decreases as x increases, and
    # half < 0 carries that sign, so |half| gives the weight of an increasing piece.
    weights = np.abs(half)[:, None] * _GL_WEIGHTS[None, :] * exp_s
    return x.ravel(), weights.ravel()


def arm_grid(a: np.ndarray, b: np.ndarray) -> ArmGrid:
    """Quadrature nodes covering every arm of ``Beta(a_i, b_i)``, with densities and CDFs there.

    Args:
        a: Validated first shape parameters, shape (K,).
        b: Validated second shape parameters, shape (K,).

    Returns:
        The shared grid. ``weights @ (pdf[k] * g)`` integrates ``f_k g`` over the kept range.
    """
    lower, upper = quantile_bounds(a, b)
    start = float(np.min(lower[:, 0]))
    stop = float(np.max(upper[:, 0]))
    breaks = np.concatenate([lower.ravel(), upper.ravel(), [0.5]])
    # Quantiles of extreme shapes (a or b far below 1) can round to exactly 0 or 1, where the
    # log maps are undefined; those pieces carry at most TAIL of mass.
    breaks = breaks[(breaks > 0.0) & (breaks < 1.0)]
    start = max(start, float(breaks.min()))
    stop = min(stop, float(breaks.max()))
    breaks = np.unique(breaks[(breaks >= start) & (breaks <= stop)])
    if breaks.size < 2:
        # Every arm is a point mass to double precision; one tiny piece around it suffices.
        breaks = np.array([np.nextafter(start, 0.0), np.nextafter(stop, 1.0)])
    x, weights = _nodes(breaks)

    k = a.size
    pdf = np.zeros((k, x.size))
    cdf = np.zeros((k, x.size))
    for i in range(k):
        # Outside its own kept range an arm's density is treated as 0 and its CDF as 0 or 1:
        # the error is at most TAIL, and it spares the costly incomplete beta function (several
        # microseconds per call at a ~ 1e8) at nodes that belong to other arms.
        inside = (x >= lower[i, 0]) & (x <= upper[i, 0])
        cdf[i, x > upper[i, 0]] = 1.0
        pdf[i, inside] = stats.beta.pdf(x[inside], a[i], b[i])
        cdf[i, inside] = special.betainc(a[i], b[i], x[inside])
    return ArmGrid(x=x, weights=weights, pdf=pdf, cdf=cdf, start=start)
