"""P(best) and expected loss: closed forms, large counts, Monte Carlo agreement."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from services.statistics import (
    ArmCounts,
    expected_loss,
    probability_best,
    probability_best_from_counts,
    probability_best_mc,
)
from tests.statistics.references import miller_probability_b_beats_a, quad_probability_b_beats_a

SEED_A = ArmCounts(impressions=29_274, clicks=1_972)
SEED_B = ArmCounts(impressions=7_390, clicks=430)


def _shapes(impressions: float, ctrs: list[float]) -> tuple[np.ndarray, np.ndarray]:
    clicks = np.round(np.asarray(ctrs) * impressions)
    return 1.0 + clicks, 1.0 + impressions - clicks


def test_seed_example_agrees_with_monte_carlo() -> None:
    # GIVEN the seed's two models
    exact = probability_best_from_counts([SEED_A, SEED_B])
    # WHEN an independent, seeded Monte Carlo estimate is drawn
    mc = probability_best_mc([1_973, 431], [27_303, 6_961], draws=1_000_000, seed=20261128)
    # THEN A is almost surely better (~0.998) and both agree within 4 standard errors
    assert exact[0] == pytest.approx(0.997938, abs=1e-6)
    assert abs(exact[0] - mc.p[0]) < 4 * mc.stderr[0]
    assert mc.seed == 20261128 and mc.draws == 1_000_000


def test_two_arms_match_evan_millers_closed_form() -> None:
    # GIVEN pairs of arms with a few hundred to a few thousand impressions
    rng = np.random.default_rng(7)
    worst = 0.0
    for _ in range(40):
        impressions = rng.integers(200, 5_000, size=2)
        clicks = rng.binomial(impressions, rng.uniform(0.02, 0.3, size=2))
        a = 1 + clicks
        b = 1 + impressions - clicks
        # WHEN P(B best) is integrated
        got = probability_best(a, b)[1]
        # THEN it equals the closed form P(p_B > p_A) to 1e-9
        expected = miller_probability_b_beats_a(int(a[0]), int(b[0]), int(a[1]), int(b[1]))
        worst = max(worst, abs(got - expected))
    assert worst < 1e-9


@pytest.mark.parametrize("impressions", [1e6, 1e7, 1e8, 9.9e9])
@pytest.mark.parametrize("k", range(2, 11))
def test_identical_arms_share_equally(impressions: float, k: int) -> None:
    a, b = _shapes(impressions, [0.07] * k)
    p = probability_best(a, b)
    np.testing.assert_allclose(p, 1.0 / k, rtol=0, atol=1e-6)
    # The raw sum (nothing is renormalised) is within 1e-6 of 1.
    assert abs(p.sum() - 1.0) < 1e-6


@pytest.mark.parametrize("impressions", [1e6, 1e7, 1e8])
@pytest.mark.parametrize("lift", [1e-6, 1e-5, 3e-5, 1e-4])
def test_close_arms_match_adaptive_quadrature(impressions: float, lift: float) -> None:
    # GIVEN two arms whose CTRs differ by a few posterior standard deviations or less
    a, b = _shapes(impressions, [0.005, 0.005 + lift])
    # WHEN P(best) is computed
    p = probability_best(a, b)
    # THEN it matches scipy's adaptive quadrature of ∫ f_A (1 - F_B) to 1e-9
    expected = quad_probability_b_beats_a(a[0], b[0], a[1], b[1])
    assert p[1] == pytest.approx(expected, abs=1e-9)
    assert abs(p.sum() - 1.0) < 1e-6


def test_permuting_arms_permutes_the_result() -> None:
    a, b = _shapes(1e8, [0.0700, 0.07001, 0.06999, 0.070005, 0.07002])
    p = probability_best(a, b)
    for order in itertools.islice(itertools.permutations(range(5)), 0, 120, 17):
        index = list(order)
        np.testing.assert_allclose(probability_best(a[index], b[index]), p[index], atol=1e-12)
    assert abs(p.sum() - 1.0) < 1e-6


@pytest.mark.parametrize("impressions", [1e6, 1e8])
def test_far_apart_arms(impressions: float) -> None:
    a, b = _shapes(impressions, [0.05, 0.06, 0.03])
    np.testing.assert_allclose(probability_best(a, b), [0.0, 1.0, 0.0], atol=1e-12)


def test_tiny_arm_against_huge_arm_agrees_with_monte_carlo() -> None:
    # GIVEN a new model with 10 impressions and 1 click against one with 1e8 impressions
    a, b = [2.0, 7_000_001.0], [10.0, 93_000_001.0]
    p = probability_best(a, b)
    mc = probability_best_mc(a, b, draws=1_000_000, seed=11)
    # THEN exact and Monte Carlo agree within 4 standard errors, and the sum is 1
    assert abs(p[0] - mc.p[0]) < 4 * mc.stderr[0]
    assert abs(p.sum() - 1.0) < 1e-6
    # AND the exact value is the tiny arm's upper tail beyond the huge arm's CTR (~0.07)
    assert p[0] == pytest.approx(0.8227699, abs=1e-6)


def test_ctrs_next_to_one_keep_their_mass() -> None:
    # GIVEN Beta(1e8, 1), which lives within ~1e-8 of 1 where doubles are 1.1e-16 apart, and an
    # arcsine Beta(0.5, 0.5), whose density is unbounded at both ends
    p = probability_best([1e8, 1.0, 0.5], [1.0, 1e8, 0.5])
    # THEN no mass is lost next to 1
    assert abs(p.sum() - 1.0) < 1e-9
    # AND the arcsine arm wins with P(1 - Y < 1 - X): 1 - X ~ Exp(1e8) for X ~ Beta(1e8, 1) and
    # P(1 - Y < t) = (2 / pi) sqrt(t) near 0, so P = (2 / pi) E[sqrt(E / 1e8)] = 1e-4 / sqrt(pi)
    assert p[2] == pytest.approx(1e-4 / np.sqrt(np.pi), rel=1e-6)
    assert p[1] == 0.0


def test_single_arm_is_best() -> None:
    assert probability_best([3.0], [4.0]).tolist() == [1.0]
    assert expected_loss([3.0], [4.0]).tolist() == [0.0]


def test_monte_carlo_is_reproducible_and_chunked() -> None:
    a, b = _shapes(1e4, [0.05 + 0.001 * i for i in range(10)])
    first = probability_best_mc(a, b, draws=250_001, seed=5)
    again = probability_best_mc(a, b, draws=250_001, seed=5)
    np.testing.assert_array_equal(first.p, again.p)
    assert first.p.sum() == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(first.stderr, np.sqrt(first.p * (1 - first.p) / 250_001))
    exact = probability_best(a, b)
    assert np.all(np.abs(exact - first.p) < 4 * np.maximum(first.stderr, 1e-4))


def test_monte_carlo_reports_a_fresh_seed_and_none_for_an_injected_generator() -> None:
    fresh = probability_best_mc([2.0, 3.0], [3.0, 2.0], draws=1_000)
    replay = probability_best_mc([2.0, 3.0], [3.0, 2.0], draws=1_000, seed=fresh.seed)
    np.testing.assert_array_equal(fresh.p, replay.p)
    injected = probability_best_mc(
        [2.0, 3.0], [3.0, 2.0], draws=1_000, rng=np.random.default_rng(1)
    )
    assert injected.seed is None


def test_expected_loss_of_two_identical_near_normal_arms() -> None:
    # For iid X, Y: E[max(X, Y)] - E[X] = E|X - Y| / 2 = sd / sqrt(pi) when X - Y is normal;
    # at 1e8 impressions the Beta's departure from normality changes this by < 1e-6 relative.
    a, b = _shapes(1e8, [0.07, 0.07])
    sd = np.sqrt(a[0] * b[0] / ((a[0] + b[0]) ** 2 * (a[0] + b[0] + 1)))
    np.testing.assert_allclose(expected_loss(a, b), sd / np.sqrt(np.pi), rtol=1e-5)


@pytest.mark.parametrize("impressions", [1e3, 1e6, 1e8])
def test_expected_losses_differ_by_the_difference_of_means(impressions: float) -> None:
    # loss_k = E[max] - mean_k, so loss_k - loss_j = mean_j - mean_k exactly.
    a, b = _shapes(impressions, [0.05, 0.0501, 0.0499, 0.05005])
    loss = expected_loss(a, b)
    means = a / (a + b)
    np.testing.assert_allclose(loss - loss[0], means[0] - means, rtol=0, atol=1e-12)
    assert np.all(loss >= 0.0)


def test_expected_loss_agrees_with_monte_carlo() -> None:
    a = np.array([21.0, 31.0, 26.0])
    b = np.array([481.0, 471.0, 476.0])
    rng = np.random.default_rng(3)
    draws = rng.beta(a, b, size=(400_000, 3))
    mc_loss = draws.max(axis=1)[:, None] - draws
    mean = mc_loss.mean(axis=0)
    stderr = mc_loss.std(axis=0) / np.sqrt(draws.shape[0])
    assert np.all(np.abs(expected_loss(a, b) - mean) < 4 * stderr)
