"""The simulator's vectorised rules agree with dynab's per-request policies on small cases."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pytest

from services.algorithms.epsilon_greedy import EpsilonGreedy
from services.algorithms.floor import apply_floor
from services.algorithms.ucb1 import UCB1
from services.algorithms.warmup import in_warmup
from services.parameters import ArmParameters, ParameterSnapshot
from services.simulation.allocation import (
    bts_in_warmup,
    epsilon_greedy_shares,
    floored,
    thompson_serve,
    ucb1_shares,
)
from services.simulation.pbest import probability_best_draws, probability_best_grid
from services.statistics import probability_best
from tests.foundation.factories import experiment


def _random_cases(n: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    cases = []
    for _ in range(n):
        k = int(rng.integers(2, 5))
        imps = (rng.integers(0, 50_000, size=k) * rng.random(k) ** 2).astype(int)
        clicks = rng.binomial(imps, rng.uniform(0.01, 0.2) * rng.uniform(0.8, 1.2, size=k))
        cases.append((1.0 + clicks, 1.0 + imps - clicks))
    return cases


def test_grid_probability_best_matches_exact_within_1e_3() -> None:
    for a, b in _random_cases(150, seed=3):
        grid = probability_best_grid(a[None, :], b[None, :])[0]
        np.testing.assert_allclose(grid, probability_best(a, b), atol=1e-3)


def test_grid_probability_best_handles_empty_and_single_arms() -> None:
    np.testing.assert_allclose(probability_best_grid(np.ones((3, 2)), np.ones((3, 2))), 0.5)
    assert probability_best_grid(np.ones((2, 1)), np.ones((2, 1))).tolist() == [[1.0], [1.0]]


def test_monte_carlo_probability_best_agrees_with_grid() -> None:
    a = np.array([[101.0, 91.0], [5.0, 5.0]])
    b = np.array([[1400.0, 1410.0], [50.0, 50.0]])
    mc = probability_best_draws(a, b, 40_000, np.random.default_rng(0))
    np.testing.assert_allclose(mc, probability_best_grid(a, b), atol=0.01)


@pytest.mark.parametrize("floor", [0.0, 0.05, 0.2])
def test_floor_is_the_same_formula(floor: float) -> None:
    weights = np.array([[0.9, 0.1, 0.0], [0.2, 0.3, 0.5]])
    expected = np.vstack([apply_floor(w, floor) for w in weights])
    np.testing.assert_allclose(floored(weights, floor), expected)


def _frequencies(policy, n: int, k: int) -> np.ndarray:
    rng = np.random.default_rng(11)
    picks = [policy.choose("m", rng) for _ in range(n)]
    return np.bincount(picks, minlength=k) / n


@pytest.mark.parametrize(
    ("imps", "clicks"), [((100, 100, 100), (5, 9, 9)), ((0, 50, 10), (0, 2, 1))]
)
def test_epsilon_greedy_shares_match_the_policy(imps: tuple, clicks: tuple) -> None:
    n = 20_000
    shares = epsilon_greedy_shares(np.array([imps]), np.array([clicks]), 0.3)[0]
    freq = _frequencies(EpsilonGreedy(imps, clicks, 0.3), n, 3)
    # 5 standard errors: fails only on a real disagreement.
    np.testing.assert_allclose(freq, shares, atol=5 * np.sqrt(0.25 / n))


def test_ucb1_shares_match_the_policy() -> None:
    rng = np.random.default_rng(5)
    for _ in range(50):
        imps = rng.integers(0, 300, size=3)
        clicks = rng.binomial(imps, 0.1)
        shares = ucb1_shares(imps[None, :], clicks[None, :])[0]
        chosen = UCB1(tuple(int(i) for i in imps), tuple(int(c) for c in clicks)).choose("m", rng)
        assert shares[chosen] == shares.max() > 0


def test_thompson_draws_serve_probability_best() -> None:
    a, b = np.array([[30.0, 25.0, 10.0]]), np.array([[400.0, 380.0, 200.0]])
    n = 40_000
    served = thompson_serve(a + b - 2, a - 1, n, np.random.default_rng(2))
    np.testing.assert_allclose(served[0] / n, probability_best(a[0], b[0]), atol=5 * 0.5 / n**0.5)


@pytest.mark.parametrize(
    ("hours", "imps", "expected"),
    [
        (5.0, (2000, 2000), True),
        (6.0, (2000, 999), True),
        (6.0, (1000, 1000), False),
        (7.5, (5000, 1200), False),
    ],
)
def test_warmup_rule_matches_the_selector(hours: float, imps: tuple, expected: bool) -> None:
    start = datetime(2026, 1, 1)
    exp = experiment(started_at=start, warmup_hours=6.0, warmup_min_impressions=1000)
    snapshot = ParameterSnapshot(
        experiment_id=exp.experiment_id,
        batch_id="b",
        arms=tuple(
            ArmParameters(code, alpha=0, beta=n)
            for code, n in zip(exp.model_codes, imps, strict=True)
        ),
    )
    assert in_warmup(exp, snapshot, start + timedelta(hours=hours)) is expected
    assert bool(bts_in_warmup(hours, np.array([imps]), 6.0, 1000)[0]) is expected
