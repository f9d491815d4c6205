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
  Near 0 a Beta density behaves like ``x^(a-1)``, which a polynomial rule in x cannot follow over
  a piece spanning decades (and which is singular for a < 1); in log x it becomes ``exp(a s)``,
  which is smooth. On a narrow piece far from 0 and 1 the map is nearly linear and costs nothing.
  Above 0.5 densities and CDFs are evaluated through ``y = 1 - x`` (the mirrored ``Beta(b, a)``),
  so that CTRs within 1e-16 of 1, where doubles cannot tell x from 1, keep their precision.

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

# The pieces are narrow enough that 4 points already reach ~2e-10 and 6 reach rounding level
# (~1e-13, measured against closed forms and adaptive quadrature); 12 leave a wide margin.
_GL_POINTS, _GL_WEIGHTS = np.polynomial.legendre.leggauss(12)


@dataclass(frozen=True, eq=False)
class ArmGrid:
    """Every arm's density and CDF at shared quadrature nodes.

    Attributes:
        weights: Quadrature weights for ``dx`` (the change of variables included), shape (N,).
        pdf: ``pdf[i, n]`` is arm i's density at node n, shape (K, N).
        cdf: ``cdf[i, n]`` is arm i's CDF at node n, shape (K, N).
    """

    weights: np.ndarray
    pdf: np.ndarray
    cdf: np.ndarray

    def cdf_of_others(self) -> np.ndarray:
        """``∏_{i≠k} F_i(x)`` for every arm k, shape (K, N).

        Built from prefix and suffix products rather than by dividing the full product by
        ``F_k``, which would be 0/0 wherever ``F_k`` underflows.
        """
        ones = np.ones((1, self.cdf.shape[1]))
        prefix = np.cumprod(np.vstack([ones, self.cdf[:-1]]), axis=0)
        suffix = np.cumprod(np.vstack([ones, self.cdf[:0:-1]]), axis=0)[::-1]
        return prefix * suffix


def _logit(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    # log(x / (1 - x)) from whichever of x and y = 1 - x is the accurate one; np.where evaluates
    # both branches, and the unused one may take log(0).
    with np.errstate(divide="ignore"):
        return np.where(x <= 0.5, np.log(x) - np.log1p(-x), np.log1p(-y) - np.log(y))


def _quantiles(
    a: np.ndarray, b: np.ndarray, levels: np.ndarray, upper: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Quantiles of ``Beta(a_i, b_i)`` as pairs ``(x, 1 - x)``, shape (K, L) each.

    Doubles near 1 are 1.1e-16 apart, so a quantile such as ``1 - 1e-21`` (the upper tail of
    ``Beta(1e8, 1)``) would round to 1. Since ``1 - p ~ Beta(b, a)``, the distance from 1 is
    computed directly as a quantile of the mirrored distribution wherever x exceeds 0.5.
    """
    a2, b2, lv = a[:, None], b[:, None], levels[None, :]
    if upper:
        x = special.betainccinv(a2, b2, lv)
        y = special.betaincinv(b2, a2, lv)
    else:
        x = special.betaincinv(a2, b2, lv)
        y = special.betainccinv(b2, a2, lv)
    return np.where(x <= 0.5, x, 1.0 - y), np.where(x <= 0.5, 1.0 - x, y)


def _nodes(lower_breaks: np.ndarray, upper_breaks: np.ndarray) -> tuple[np.ndarray, ...]:
    """Gauss–Legendre nodes and ``dx`` weights between consecutive breaks on each side of 0.5.

    Args:
        lower_breaks: Increasing x values in (0, 0.5].
        upper_breaks: Increasing values of ``y = 1 - x`` in (0, 0.5].

    Returns:
        ``x``, ``y = 1 - x``, the weights, and a mask of the nodes above 0.5 (where ``y`` is the
        accurate coordinate).
    """
    xs, ys, ws, uppers = [], [], [], []
    for breaks, is_upper in ((lower_breaks, False), (upper_breaks, True)):
        if breaks.size < 2:
            continue
        s_edges = np.log(breaks)
        centre = (s_edges[:-1] + s_edges[1:]) / 2.0
        half = (s_edges[1:] - s_edges[:-1]) / 2.0
        s = (centre[:, None] + half[:, None] * _GL_POINTS[None, :]).ravel()
        near = np.exp(s)  # the coordinate that is small on this side: x below 0.5, y above
        far = -np.expm1(s)
        xs.append(far if is_upper else near)
        ys.append(near if is_upper else far)
        ws.append((half[:, None] * _GL_WEIGHTS[None, :]).ravel() * near)
        uppers.append(np.full(s.size, is_upper))
    return tuple(np.concatenate(parts) for parts in (xs, ys, ws, uppers))


def arm_grid(a: np.ndarray, b: np.ndarray) -> ArmGrid:
    """Quadrature nodes covering every arm of ``Beta(a_i, b_i)``, with densities and CDFs there.

    Args:
        a: Validated first shape parameters, shape (K,).
        b: Validated second shape parameters, shape (K,).

    Returns:
        The shared grid. ``(pdf[k] * g) @ weights`` integrates ``f_k g`` over the kept range.
    """
    lower_x, lower_y = _quantiles(a, b, _LEVELS, upper=False)
    upper_x, upper_y = _quantiles(a, b, _LEVELS, upper=True)
    break_x = np.concatenate([lower_x.ravel(), upper_x.ravel(), [0.5]])
    break_y = np.concatenate([lower_y.ravel(), upper_y.ravel(), [0.5]])
    # Quantiles of extreme shapes (a or b far below 1) can underflow to exactly 0 or 1, where
    # the log maps are undefined; such a piece carries at most TAIL of mass.
    keep = (break_x > 0.0) & (break_y > 0.0)
    break_x, break_y = break_x[keep], break_y[keep]
    key = _logit(break_x, break_y)
    arm_start = _logit(lower_x[:, 0], lower_y[:, 0])
    arm_stop = _logit(upper_x[:, 0], upper_y[:, 0])
    inside = (key >= np.min(arm_start)) & (key <= np.max(arm_stop))
    order = np.argsort(key[inside])
    break_x, break_y, key = break_x[inside][order], break_y[inside][order], key[inside][order]
    if key.size < 2:
        # Every arm is a point mass to double precision; any tiny piece around it suffices.
        break_x = np.array([np.nextafter(break_x[0], 0.0), np.nextafter(break_x[0], 1.0)])
        break_y, key = 1.0 - break_x, _logit(break_x, 1.0 - break_x)
    x, y, weights, upper = _nodes(np.unique(break_x[key <= 0.0]), np.unique(break_y[key >= 0.0]))
    node_key = _logit(x, y)

    k = a.size
    pdf = np.zeros((k, x.size))
    cdf = np.zeros((k, x.size))
    for i in range(k):
        # Outside its own kept range an arm's density is taken as 0 and its CDF as 0 or 1: the
        # error is at most TAIL, and it spares the incomplete beta function (several
        # microseconds per call at a ~ 1e8) at nodes that belong only to other arms.
        cdf[i, node_key > arm_stop[i]] = 1.0
        inside = (node_key >= arm_start[i]) & (node_key <= arm_stop[i])
        low = inside & ~upper
        high = inside & upper
        pdf[i, low] = stats.beta.pdf(x[low], a[i], b[i])
        cdf[i, low] = special.betainc(a[i], b[i], x[low])
        # Above 0.5 use the mirror image 1 - p ~ Beta(b, a) in y = 1 - x:
        # f(x; a, b) = f(y; b, a) and F(x; a, b) = 1 - F(y; b, a).
        pdf[i, high] = stats.beta.pdf(y[high], b[i], a[i])
        cdf[i, high] = special.betaincc(b[i], a[i], y[high])
    return ArmGrid(weights=weights, pdf=pdf, cdf=cdf)
