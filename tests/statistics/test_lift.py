"""Lift of a treatment over a control."""

from __future__ import annotations

import math

import numpy as np
import pytest

from services.statistics import BetaPosterior, beta_posterior, lift_over_control


def test_hand_checkable_lift() -> None:
    # GIVEN a control p_c ~ Beta(2, 1) (density 2x) and a uniform treatment p_t ~ Beta(1, 1).
    # By hand: P(p_t > p_c) = ∫ 2x (1 - x) dx = 1/3; E[1/p_c] = ∫ 2 dx = 2, so the mean lift is
    # E[p_t] E[1/p_c] - 1 = 0. R = p_t / p_c has CDF 2r/3 for r <= 1 and 1 - 1/(3 r^2) above, so
    # its 2.5% quantile is 0.0375 and its 97.5% quantile is sqrt(1 / 0.075).
    draws = 400_000
    lift = lift_over_control(BetaPosterior(2.0, 1.0), BetaPosterior(1.0, 1.0), draws=draws, seed=3)
    assert lift.probability_better == pytest.approx(1 / 3, abs=1e-9)
    assert lift.mean == pytest.approx(0.0, abs=1e-15)
    assert lift.absolute_mean == pytest.approx(0.5 - 2 / 3, abs=1e-15)
    # Monte Carlo quantiles: allow 4 standard errors, sqrt(q (1 - q) / n) / density.
    q_se = math.sqrt(0.025 * 0.975 / draws)
    low_r, high_r = 0.0375, math.sqrt(1 / 0.075)
    assert lift.low == pytest.approx(low_r - 1, abs=4 * q_se / (2 / 3))
    assert lift.high == pytest.approx(high_r - 1, abs=4 * q_se / (2 / (3 * high_r**3)))
    assert (lift.level, lift.draws, lift.seed) == (0.95, draws, 3)


def test_identical_posteriors() -> None:
    # For iid p_t, p_c the ratio and its inverse have the same law: P(better) = 1/2 and the
    # interval of the ratio is symmetric in log scale: (1 + low) (1 + high) = 1.
    posterior = BetaPosterior(3.0, 2.0)
    lift = lift_over_control(posterior, posterior, draws=400_000, seed=8)
    assert lift.probability_better == pytest.approx(0.5, abs=1e-9)
    assert lift.mean == pytest.approx(0.6 * 4 / 2 - 1, abs=1e-15)  # E[p] E[1/p] - 1 = 0.2
    assert (1 + lift.low) * (1 + lift.high) == pytest.approx(1.0, abs=0.03)
    assert lift.absolute_low == pytest.approx(-lift.absolute_high, abs=0.01)


def test_seed_example_lift_is_reproducible() -> None:
    control = beta_posterior(clicks=430, impressions=7_390)
    treatment = beta_posterior(clicks=1_972, impressions=29_274)
    first = lift_over_control(control, treatment, seed=42)
    again = lift_over_control(control, treatment, seed=42)
    assert first == again
    other = lift_over_control(control, treatment, seed=43)
    assert other.low != first.low
    # A's CTR is ~15.6% above B's; the interval contains it and excludes 0.
    assert first.mean == pytest.approx((1_973 / 29_276) * (7_391 / 430) - 1, rel=1e-12)
    assert 0.0 < first.low < first.mean < first.high
    assert first.probability_better == pytest.approx(0.997938, abs=1e-6)


def test_injected_generator_reports_no_seed() -> None:
    lift = lift_over_control(
        BetaPosterior(5.0, 50.0),
        BetaPosterior(6.0, 50.0),
        draws=1_000,
        rng=np.random.default_rng(0),
    )
    assert lift.seed is None


def test_control_without_clicks_has_an_infinite_mean_lift() -> None:
    lift = lift_over_control(beta_posterior(0, 100), beta_posterior(3, 100), draws=1_000, seed=1)
    assert math.isinf(lift.mean)
    assert math.isfinite(lift.low)
