"""Counts and Beta posteriors, with the seed's worked example as golden values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from services.statistics import ArmCounts, BetaPosterior, beta_posterior, common_grid
from tests.statistics.references import beta_cdf_by_binomial_sum

# The seed's one-day example: model A (EXP-01-APS002-01) and model B (EXP-01-NCF-01).
MODEL_A = ArmCounts(impressions=29_274, clicks=1_972)
MODEL_B = ArmCounts(impressions=7_390, clicks=430)


def test_counts_properties() -> None:
    assert MODEL_A.non_clicks == 27_302
    assert MODEL_A.ctr == pytest.approx(1_972 / 29_274, abs=1e-15)
    assert ArmCounts(impressions=0, clicks=0).ctr == 0.0


def test_counts_merge_hours_with_add_and_sum() -> None:
    # GIVEN three hours of one arm
    hours = [ArmCounts(100, 7, 1), ArmCounts(250, 20, 0), ArmCounts(0, 0, 3)]
    # WHEN they are merged
    total = sum(hours)
    # THEN every count adds up, and + agrees with sum()
    assert total == ArmCounts(impressions=350, clicks=27, orders=4)
    assert hours[0] + hours[1] + hours[2] == total


def test_counts_normalise_numpy_integers() -> None:
    counts = ArmCounts(np.int64(10), np.int32(3))
    assert type(counts.impressions) is int
    assert type(counts.clicks) is int


def test_orders_may_exceed_clicks() -> None:
    assert ArmCounts(impressions=10, clicks=1, orders=5).orders == 5


def test_posterior_of_the_seed_example() -> None:
    # GIVEN the seed's counts under the uniform prior
    a = beta_posterior(clicks=1_972, impressions=29_274)
    b = BetaPosterior.from_counts(MODEL_B)
    # THEN the parameters are 1 + clicks and 1 + non-clicks
    assert (a.a, a.b) == (1_973.0, 27_303.0)
    assert (b.a, b.b) == (431.0, 6_961.0)
    # AND the means are (1 + clicks) / (2 + impressions): 6.74% and 5.83%
    assert a.mean == pytest.approx(1_973 / 29_276, abs=1e-15)
    assert a.mean == pytest.approx(0.0673930865, abs=1e-10)
    assert b.mean == pytest.approx(431 / 7_392, abs=1e-15)
    assert b.mean == pytest.approx(0.0583062771, abs=1e-10)
    assert round(a.mean, 4) == 0.0674
    assert round(b.mean, 4) == 0.0583
    # AND the variance is ab / ((a + b)^2 (a + b + 1))
    assert a.variance == pytest.approx(1_973 * 27_303 / (29_276**2 * 29_277), rel=1e-14)
    assert a.std == pytest.approx(0.001465189178, rel=1e-9)


@pytest.mark.parametrize(
    ("counts", "low", "high"),
    [
        # Verified with a 30-digit binomial-tail sum: F(low) = 0.025 and F(high) = 0.975.
        (MODEL_A, 0.06454948269581257, 0.07029267248150996),
        (MODEL_B, 0.05307916505484858, 0.06375974020744765),
    ],
)
def test_credible_interval_of_the_seed_example(counts: ArmCounts, low: float, high: float) -> None:
    posterior = BetaPosterior.from_counts(counts)
    got_low, got_high = posterior.credible_interval(0.95)
    assert got_low == pytest.approx(low, abs=1e-12)
    assert got_high == pytest.approx(high, abs=1e-12)
    # The interval's tails hold 2.5% each, by a computation that shares nothing with scipy's
    # incomplete beta function.
    a, b = int(posterior.a), int(posterior.b)
    assert beta_cdf_by_binomial_sum(a, b, got_low) == pytest.approx(0.025, abs=1e-9)
    assert beta_cdf_by_binomial_sum(a, b, got_high) == pytest.approx(0.975, abs=1e-9)


def test_custom_prior() -> None:
    posterior = BetaPosterior.from_counts(ArmCounts(10, 3), prior_a=0.5, prior_b=0.5)
    assert (posterior.a, posterior.b) == (3.5, 7.5)


def test_grid_covers_the_density_of_a_huge_arm() -> None:
    # GIVEN an arm with 1e8 impressions, whose posterior sd is ~2.5e-5
    posterior = beta_posterior(clicks=7_000_000, impressions=100_000_000)
    # WHEN a plotting grid is made
    x = posterior.grid(n=400)
    # THEN it spans a few standard deviations around the mean, not [0, 1]
    assert x.shape == (400,)
    assert np.all(np.diff(x) > 0)
    assert x[0] < posterior.mean - 4 * posterior.std
    assert x[-1] > posterior.mean + 4 * posterior.std
    assert x[-1] - x[0] < 20 * posterior.std
    # AND the density integrates to ~1 - 1e-6 over it (trapezoid on 400 points)
    mass = float(np.sum((x[1:] - x[:-1]) * (posterior.density(x)[1:] + posterior.density(x)[:-1])))
    assert mass / 2 == pytest.approx(1.0, abs=1e-4)


def test_density_matches_the_formula() -> None:
    posterior = BetaPosterior(3.0, 5.0)
    x = np.array([0.1, 0.5, 0.9])
    expected = x**2 * (1 - x) ** 4 / math.exp(math.lgamma(3) + math.lgamma(5) - math.lgamma(8))
    np.testing.assert_allclose(posterior.density(x), expected, rtol=1e-12)
    assert posterior.density(1.5)[()] == 0.0


def test_common_grid_resolves_a_narrow_and_a_wide_posterior() -> None:
    # GIVEN a model with 10 impressions and one with 10 million
    wide = beta_posterior(clicks=1, impressions=10)
    narrow = beta_posterior(clicks=600_000, impressions=10_000_000)
    # WHEN one grid is made for both
    x = common_grid([wide, narrow], n=200)
    # THEN it is sorted, spans the wide one and has many points inside the narrow one
    assert np.all(np.diff(x) > 0)
    assert x[0] <= wide.grid(200)[0] and x[-1] >= wide.grid(200)[-1]
    low, high = narrow.credible_interval(0.99)
    assert np.count_nonzero((x >= low) & (x <= high)) > 100
