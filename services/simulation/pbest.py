"""P(arm k is best) for many seeds at once, for the simulator's inner loop.

:func:`services.statistics.probability_best` is exact to ~1e-9 but works on one experiment at
a time (~2 ms a call); a week of hourly batches for 200 seeds needs ~70,000 calls. The
simulator needs ~1e-3 (a share of traffic, a 0.95 threshold), for a whole (seeds, arms) array
per call. Two vectorised methods were benchmarked (``benchmarks/bench_simulation.py``):

* :func:`probability_best_grid` -- numerical integration on a per-seed grid, the default. It
  evaluates only Beta *log-densities* (an ``exp`` per node, no incomplete beta function, which
  costs ~0.6 us per call) and gets each CDF by integrating its own density along the grid.
* :func:`probability_best_draws` -- Monte Carlo; its error shrinks only as 1/sqrt(draws) and
  Beta draws cost ~45 ns each, so 1e-3 accuracy would take ~250,000 draws per seed and arm.
"""

from __future__ import annotations

import numpy as np
from scipy import special

# Grid breakpoints in posterior standard deviations around each arm's mean: dense in the bulk,
# sparse in the tails, out to 8 sd where a Beta(1 + clicks, 1 + non-clicks) keeps < 1e-6 mass.
# Every arm brings its own breakpoints, so a narrow arm inside a wide one is resolved at its
# own scale (its CDF is a steep step in the wide arm's coordinates).
_OFFSETS = np.array(
    [-8, -6, -4, -3, -2.5, -2, -1.5, -1, -0.5, 0, 0.5, 1, 1.5, 2, 2.5, 3, 4, 6, 8], dtype=float
)
# Uniform sub-steps per piece; trapezoid error ~ (step / sd)^2 / 12 < 1e-4 in the bulk.
_STEPS = 8


def _others_product(cdf: np.ndarray) -> np.ndarray:
    """``prod_{i != k} F_i`` along axis -2 by prefix and suffix products (no division by 0)."""
    ones = np.ones_like(cdf[..., :1, :])
    prefix = np.cumprod(np.concatenate([ones, cdf[..., :-1, :]], axis=-2), axis=-2)
    suffix = np.cumprod(np.concatenate([ones, cdf[..., :0:-1, :]], axis=-2), axis=-2)[..., ::-1, :]
    return prefix * suffix


def _grid(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-seed grid steps ``dx`` (S, M-1), densities and CDFs (S, K, M), normalised on the grid."""
    s, k = a.shape
    n = a + b
    mean = a / n
    sd = np.sqrt(a * b / (n * n * (n + 1.0)))
    breaks = np.clip(mean[..., None] + sd[..., None] * _OFFSETS, 0.0, 1.0).reshape(s, -1)
    breaks.sort(axis=1)
    frac = np.arange(_STEPS) / _STEPS
    x = (breaks[:, :-1, None] + np.diff(breaks, axis=1)[..., None] * frac).reshape(s, -1)
    x = np.concatenate([x, breaks[:, -1:]], axis=1)  # (S, M), non-decreasing
    dx = np.diff(x, axis=1)  # zero-width pieces (clipped breaks) contribute nothing

    # Log-density without the Beta function: the grid normalisation below supplies it, and it
    # would otherwise be a difference of huge gammaln values at a, b ~ 1e5.
    xs = x[:, None, :]
    log_pdf = special.xlogy(a[..., None] - 1.0, xs) + special.xlog1py(b[..., None] - 1.0, -xs)
    pdf = np.exp(log_pdf - log_pdf.max(axis=2, keepdims=True))  # (S, K, M)
    pieces = 0.5 * (pdf[..., 1:] + pdf[..., :-1]) * dx[:, None, :]
    cdf = np.concatenate([np.zeros((s, k, 1)), np.cumsum(pieces, axis=2)], axis=2)
    total = cdf[..., -1:]
    return dx, pdf / total, cdf / total


def _trapezoid(values: np.ndarray, dx: np.ndarray) -> np.ndarray:
    return (0.5 * (values[..., 1:] + values[..., :-1]) * dx[:, None, :]).sum(axis=2)


def probability_best_grid(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """P(arm k has the highest CTR) under ``Beta(a, b)`` posteriors, for many seeds at once.

    ``P(k best) = int f_k(x) prod_{i != k} F_i(x) dx`` by the trapezoid rule on a grid built per
    seed from every arm's mean +- {0, 0.5, ..., 8} sd. Densities are normalised on the grid
    itself, so every CDF ends at exactly 1 and the result sums to 1 up to rounding. Accurate to
    ~1e-3 for ``a, b >= 1``; the tests compare it with the exact per-experiment function.

    Args:
        a: First shape parameters, shape (S, K), all >= 1 (1 + clicks).
        b: Second shape parameters, shape (S, K), all >= 1 (1 + non-clicks).

    Returns:
        Probabilities, shape (S, K), each row summing to 1.
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    s, k = a.shape
    if k == 1:
        return np.ones((s, 1))
    dx, pdf, cdf = _grid(a, b)
    p = np.clip(_trapezoid(pdf * _others_product(cdf), dx), 0.0, None)
    return p / p.sum(axis=1, keepdims=True)


def decision_grid(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """P(best) and expected loss ``E[max_i p_i - p_k]`` for many seeds at once, on one grid.

    The loss is ``int F_k (1 - prod_{i != k} F_i) dx`` (see
    :func:`services.statistics.probability_best.expected_loss`), by the same trapezoid rule.

    Returns:
        ``(p_best, loss)``, each of shape (S, K).
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    s, k = a.shape
    if k == 1:
        return np.ones((s, 1)), np.zeros((s, 1))
    dx, pdf, cdf = _grid(a, b)
    others = _others_product(cdf)
    p = np.clip(_trapezoid(pdf * others, dx), 0.0, None)
    loss = np.clip(_trapezoid(cdf * (1.0 - others), dx), 0.0, None)
    return p / p.sum(axis=1, keepdims=True), loss


def probability_best_draws(
    a: np.ndarray, b: np.ndarray, draws: int, rng: np.random.Generator
) -> np.ndarray:
    """Monte Carlo P(best) for many seeds at once: the share of joint draws each arm wins.

    Args:
        a: First shape parameters, shape (S, K).
        b: Second shape parameters, shape (S, K).
        draws: Joint draws per seed.
        rng: The injected generator.

    Returns:
        Estimated probabilities, shape (S, K).
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    s, k = a.shape
    sample = rng.beta(a[:, None, :], b[:, None, :], size=(s, draws, k))
    winners = sample.argmax(axis=2)
    return (winners[..., None] == np.arange(k)).mean(axis=1)
