"""Epsilon-greedy and UCB1 on small hand-worked cases."""

from __future__ import annotations

import math

import numpy as np

from services.algorithms.epsilon_greedy import EpsilonGreedy, epsilon_greedy
from services.algorithms.ucb1 import UCB1


def test_greedy_plays_the_best_observed_ctr() -> None:
    # CTRs 0.1 and 0.3: with no exploration arm 1, every time.
    policy = EpsilonGreedy((10, 10), (1, 3), epsilon=0.0)
    rng = np.random.default_rng(0)
    assert {policy.choose("m", rng) for _ in range(100)} == {1}


def test_unplayed_arms_count_as_zero_ctr() -> None:
    policy = epsilon_greedy((0, 10, 0), (0, 1, 0), epsilon=0.0)
    assert policy.ctr == (0.0, 0.1, 0.0)
    assert policy.choose("m", np.random.default_rng(0)) == 1


def test_greedy_ties_are_random() -> None:
    policy = EpsilonGreedy((10, 20, 10), (5, 10, 1), epsilon=0.0)
    rng = np.random.default_rng(1)
    picks = np.bincount([policy.choose("m", rng) for _ in range(4000)], minlength=3)
    assert picks[2] == 0
    assert abs(picks[0] - 2000) < 5 * math.sqrt(4000 * 0.25)


def test_epsilon_explores_uniformly_at_rate_epsilon() -> None:
    # GIVEN arm 0 is best and epsilon 0.3 over 3 arms
    # THEN arm 0 gets 1 - eps + eps / 3 = 0.8, the others eps / 3 = 0.1 each (5 sigma).
    n, eps = 20_000, 0.3
    policy = EpsilonGreedy((100, 100, 100), (50, 10, 10), epsilon=eps)
    rng = np.random.default_rng(2)
    share = np.bincount([policy.choose("m", rng) for _ in range(n)], minlength=3) / n
    expected = np.array([1 - eps + eps / 3, eps / 3, eps / 3])
    assert np.all(np.abs(share - expected) <= 5 * np.sqrt(expected * (1 - expected) / n))


def test_epsilon_greedy_golden() -> None:
    policy = EpsilonGreedy((100, 100, 100), (50, 10, 10), epsilon=0.5)
    rng = np.random.default_rng(3)
    assert [policy.choose("m", rng) for _ in range(12)] == [0, 0, 0, 0, 1, 1, 0, 1, 0, 1, 0, 0]


def test_ucb1_plays_each_arm_once_in_order() -> None:
    rng = np.random.default_rng(0)
    assert UCB1((0, 0, 0), (0, 0, 0)).choose("m", rng) == 0
    assert UCB1((5, 0, 3), (1, 0, 0)).choose("m", rng) == 1
    assert UCB1((5, 4, 0), (5, 4, 0)).choose("m", rng) == 2


def test_ucb1_exploration_bonus_by_hand() -> None:
    # n = 110, ln n = 4.7005; arm 0: 0.5 + sqrt(2 * 4.7005 / 10) = 1.46959,
    # arm 1: 0.6 + sqrt(2 * 4.7005 / 100) = 0.9066 -> the less played arm 0 wins.
    policy = UCB1((10, 100), (5, 60))
    np.testing.assert_allclose(policy.index(), [1.46959, 0.90661], atol=1e-5)
    assert policy.choose("m", np.random.default_rng(0)) == 0


def test_ucb1_exploits_when_evidence_is_strong() -> None:
    assert UCB1((1000, 1000), (100, 200)).choose("m", np.random.default_rng(0)) == 1


def test_ucb1_ties_are_random() -> None:
    policy = UCB1((10, 10), (3, 3))
    rng = np.random.default_rng(4)
    assert {policy.choose("m", rng) for _ in range(50)} == {0, 1}
