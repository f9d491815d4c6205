"""Which model is winning: P(arm k has the highest CTR) and the expected loss of choosing it.

Under batched Thompson sampling the arm parameters stay fixed within a batch, so the share of
traffic an arm receives during the batch is exactly its probability of being best under the
current posteriors. The console shows these numbers as "who is winning"; the selector can use
them as bucket sizes for sticky hash-based assignment.

``probability_best`` and ``expected_loss`` are computed by numerical integration (see
``_quadrature``) and are accurate to ~1e-12 for up to 10 arms with up to 1e10 impressions each;
``probability_best_mc`` is an independent Monte Carlo cross-check. The integrals accept arms with
``a + b`` up to ``MAX_SHAPE_TOTAL`` (1e10).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from services.exceptions import ValidationError
from services.statistics._quadrature import arm_grid
from services.statistics._validation import check_draws, check_shape_arrays, resolve_rng
from services.statistics.counts import ArmCounts

# Largest a + b (about one arm's impressions) the integrals accept. Measured accuracy is ~1e-12
# up to 1e10; beyond ~1e11 the quantile and CDF evaluations lose digits near a CTR of 0.5, and
# no recommendation area serves 1e10 impressions per model in one evaluation window.
MAX_SHAPE_TOTAL = 1e10

# Values drawn per Monte Carlo chunk (draws x arms): 8 MB of float64 whatever the draw count.
_MC_CHUNK_VALUES = 1_000_000


@dataclass(frozen=True, eq=False)
class MonteCarloEstimate:
    """A Monte Carlo estimate of each arm's probability of being best.

    Attributes:
        p: Share of draws in which each arm had the highest sampled CTR, shape (K,).
        stderr: Binomial standard error of each share, ``sqrt(p (1 - p) / draws)``.
        draws: Joint draws made.
        seed: Seed that reproduces the estimate, or None when the caller injected a generator.
    """

    p: np.ndarray
    stderr: np.ndarray
    draws: int
    seed: int | None


def probability_best(a: Sequence[float], b: Sequence[float]) -> np.ndarray:
    """Exact probability that each arm has the largest CTR.

    ``P(k is best) = ∫ f_k(x) ∏_{i≠k} F_i(x) dx`` with ``f``, ``F`` the Beta densities and CDFs.
    The values are not renormalised: their sum differs from 1 only by the integration error,
    which the tests bound by 1e-6 (it is ~1e-12 in practice).

    Args:
        a: ``Beta`` first shape parameter per arm, e.g. ``1 + clicks``.
        b: ``Beta`` second shape parameter per arm, e.g. ``1 + non_clicks``.

    Returns:
        Probabilities in [0, 1], shape (K,).

    Raises:
        ValidationError: on mismatched lengths, no arms, a parameter not finite and > 0, or an
            arm with ``a + b`` above ``MAX_SHAPE_TOTAL``.
    """
    a_arr, b_arr = check_shape_arrays(a, b, MAX_SHAPE_TOTAL)
    if a_arr.size == 1:
        return np.ones(1)
    grid = arm_grid(a_arr, b_arr)
    integrand = grid.pdf * grid.cdf_of_others()
    # Clipping only removes rounding below 0 or above 1; it cannot hide an integration error.
    return np.clip(integrand @ grid.weights, 0.0, 1.0)


def expected_loss(a: Sequence[float], b: Sequence[float]) -> np.ndarray:
    """Expected CTR given up by serving arm k instead of the best arm: ``E[max_i p_i - p_k]``.

    Since ``E[p] = ∫ (1 - F(x)) dx`` for a variable on [0, 1], and ``max_i p_i`` has CDF
    ``∏_i F_i``, the loss is ``∫ (F_k(x) - ∏_i F_i(x)) dx = ∫ F_k (1 - ∏_{i≠k} F_i) dx``. That
    integrand is non-negative, so the loss is computed without subtracting two nearly equal means
    (``E[max] - E[p_k]``), which would cost relative accuracy when the arms are close.

    Args:
        a: ``Beta`` first shape parameter per arm.
        b: ``Beta`` second shape parameter per arm.

    Returns:
        Non-negative losses in CTR units (0.001 = 0.1 percentage point), shape (K,).

    Raises:
        ValidationError: on mismatched lengths, no arms, a parameter not finite and > 0, or an
            arm with ``a + b`` above ``MAX_SHAPE_TOTAL``.
    """
    a_arr, b_arr = check_shape_arrays(a, b, MAX_SHAPE_TOTAL)
    if a_arr.size == 1:
        return np.zeros(1)
    grid = arm_grid(a_arr, b_arr)
    integrand = grid.cdf * (1.0 - grid.cdf_of_others())
    return np.maximum(integrand @ grid.weights, 0.0)


def probability_best_from_counts(counts: Sequence[ArmCounts]) -> np.ndarray:
    """``probability_best`` of arms given by their counts, under the uniform prior.

    Args:
        counts: One ``ArmCounts`` per arm.

    Returns:
        P(arm k is best) for ``Beta(1 + clicks_k, 1 + non_clicks_k)``.
    """
    if len(counts) < 1:
        raise ValidationError("counts", "needs at least one arm")
    for index, arm in enumerate(counts):
        if not isinstance(arm, ArmCounts):
            raise ValidationError(
                f"counts[{index}]", f"must be ArmCounts, got {type(arm).__name__}"
            )
    a = [1.0 + arm.clicks for arm in counts]
    b = [1.0 + arm.non_clicks for arm in counts]
    return probability_best(a, b)


def probability_best_mc(
    a: Sequence[float],
    b: Sequence[float],
    draws: int = 200_000,
    rng: np.random.Generator | None = None,
    seed: int | None = None,
) -> MonteCarloEstimate:
    """Monte Carlo estimate of ``probability_best``: draw every arm's CTR, count the winners.

    This is what batched Thompson sampling does once per request, so it also shows the traffic
    split a batch should produce. Draws are made in chunks to keep memory bounded (10 arms x
    1e6 draws needs 8 MB at a time, not 80 MB).

    Args:
        a: ``Beta`` first shape parameter per arm.
        b: ``Beta`` second shape parameter per arm.
        draws: Joint draws, at least 1.
        rng: Generator to draw from; its seed is then the caller's business.
        seed: Seed for a fresh generator. With neither ``rng`` nor ``seed`` a seed is drawn from
            the operating system and returned.

    Returns:
        The estimate with its standard errors and seed.
    """
    a_arr, b_arr = check_shape_arrays(a, b)
    draws = check_draws(draws)
    generator, used_seed = resolve_rng(rng, seed)
    k = a_arr.size
    chunk = max(1, _MC_CHUNK_VALUES // k)
    wins = np.zeros(k, dtype=np.int64)
    remaining = draws
    while remaining > 0:
        size = min(chunk, remaining)
        sample = generator.beta(a_arr, b_arr, size=(size, k))
        wins += np.bincount(np.argmax(sample, axis=1), minlength=k)
        remaining -= size
    p = wins / draws
    stderr = np.sqrt(p * (1.0 - p) / draws)
    p.setflags(write=False)
    stderr.setflags(write=False)
    return MonteCarloEstimate(p=p, stderr=stderr, draws=draws, seed=used_seed)
