"""Batched Thompson sampling in draw mode: the seed's draw, its shares, and the floor."""

from __future__ import annotations

import numpy as np
import pytest

from services.algorithms.floor import apply_floor
from services.algorithms.thompson import ThompsonSampling, sticky_weights
from services.parameters import ArmParameters
from services.statistics.probability_best import probability_best
from tests.algorithms.conftest import binomial_bound, reference_probability_best

# The seed's worked example (A and B) plus a young third model with a wide posterior.
ALPHAS = (1972, 430, 60)
BETAS = (29274 - 1972, 7390 - 430, 900)


def test_seeded_draws_golden() -> None:
    policy = ThompsonSampling(ALPHAS, BETAS)
    rng = np.random.default_rng(2024)
    picks = [policy.choose("m", rng) for _ in range(20)]
    assert picks == [2, 2, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 2, 0, 2, 0, 2]


def test_seeded_draws_with_floor_golden() -> None:
    policy = ThompsonSampling((10, 12, 8), (90, 88, 92), floor=0.1)
    rng = np.random.default_rng(7)
    picks = [policy.choose("m", rng) for _ in range(20)]
    assert picks == [0, 0, 0, 1, 1, 1, 2, 1, 1, 1, 0, 0, 1, 1, 1, 1, 0, 1, 1, 1]


def test_draw_is_the_seed_argmax_of_beta_draws() -> None:
    # The same generator state, drawn by hand the seed's way, gives the same arm.
    policy = ThompsonSampling(ALPHAS, BETAS)
    for seed in range(50):
        by_hand = np.random.default_rng(seed).beta(1 + np.array(ALPHAS), 1 + np.array(BETAS))
        assert policy.choose("m", np.random.default_rng(seed)) == int(np.argmax(by_hand))


def test_draw_frequencies_match_probability_best() -> None:
    # GIVEN fixed counts WHEN drawing n times THEN each arm's share is P(best) within 5 sigma.
    n = 40_000
    policy = ThompsonSampling(ALPHAS, BETAS)
    rng = np.random.default_rng(11)
    share = np.bincount([policy.choose("m", rng) for _ in range(n)], minlength=3) / n
    expected = probability_best(1 + np.array(ALPHAS), 1 + np.array(BETAS))
    assert np.all(np.abs(share - expected) <= binomial_bound(expected, n))


def test_probability_best_agrees_with_an_independent_quadrature() -> None:
    # The sticky mode trusts services.statistics; check it against our own integration.
    expected = reference_probability_best(ALPHAS, BETAS)
    got = probability_best(1 + np.array(ALPHAS), 1 + np.array(BETAS))
    np.testing.assert_allclose(got, expected, atol=1e-6)


def test_floor_gives_every_arm_at_least_f_in_draw_mode() -> None:
    # GIVEN arm 0 is almost surely best and a 5% floor over 4 arms
    alphas, betas, floor, n = (500, 10, 10, 10), (4500, 4990, 4990, 4990), 0.05, 40_000
    policy = ThompsonSampling(alphas, betas, floor)
    rng = np.random.default_rng(5)
    share = np.bincount([policy.choose("m", rng) for _ in range(n)], minlength=4) / n
    # THEN arm k is served f + (1 - K f) P(k best), so never less than f (within 5 sigma)
    expected = apply_floor(reference_probability_best(alphas, betas), floor)
    assert np.all(expected >= floor)
    assert np.all(np.abs(share - expected) <= binomial_bound(expected, n))
    assert np.all(share >= floor - binomial_bound(np.full(4, floor), n))


def test_ties_are_broken_at_random() -> None:
    # Beta(1, 1) draws never tie, so force a tie through a generator that returns equal draws.
    class TiedBeta:
        def __init__(self) -> None:
            self.inner = np.random.default_rng(3)

        def beta(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
            return np.full(len(a), 0.5)

        def integers(self, n: int) -> int:
            return int(self.inner.integers(n))

    policy = ThompsonSampling((0, 0, 0), (0, 0, 0))
    rng = TiedBeta()
    picks = {policy.choose("m", rng) for _ in range(100)}  # type: ignore[arg-type]
    assert picks == {0, 1, 2}


def test_sticky_weights_are_floored_probability_best() -> None:
    params = [
        ArmParameters(f"M{i}", a, b) for i, (a, b) in enumerate(zip(ALPHAS, BETAS, strict=True))
    ]
    expected = apply_floor(reference_probability_best(ALPHAS, BETAS), 0.02)
    np.testing.assert_allclose(sticky_weights(params, 0.02), expected, atol=1e-6)
    assert sticky_weights(params).sum() == pytest.approx(1.0)
