"""The simulator: reproducibility, bookkeeping, and the known limits of the algorithms."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from services.simulation import (
    UCB1,
    BatchedThompson,
    EpsilonGreedy,
    Scenario,
    StaticSplit,
    Thompson,
    simulate,
    summarise,
)

ALL = [StaticSplit(), EpsilonGreedy(), UCB1(), Thompson(), BatchedThompson()]
SMALL = Scenario(ctrs=(0.067, 0.058), impressions_per_hour=300, hours=24, n_seeds=8, seed=3)


@pytest.mark.parametrize("algorithm", ALL, ids=lambda a: a.label)
def test_same_seed_same_result_other_seed_other_result(algorithm) -> None:
    first = simulate(SMALL, algorithm)
    again = simulate(SMALL, algorithm)
    other = simulate(Scenario(**{**SMALL.__dict__, "seed": 4}), algorithm)
    assert first.seed == 3
    np.testing.assert_array_equal(first.clicks, again.clicks)
    np.testing.assert_array_equal(first.impressions, again.impressions)
    assert not np.array_equal(first.clicks, other.clicks)


@pytest.mark.parametrize("algorithm", ALL, ids=lambda a: a.label)
def test_every_request_is_served_once_and_regret_never_falls(algorithm) -> None:
    result = simulate(SMALL, algorithm)
    assert (result.impressions.sum(axis=2) == 300).all()
    assert (result.clicks <= result.impressions).all()
    assert (np.diff(result.regret, axis=1) >= 0).all()
    np.testing.assert_allclose(result.exposure[:, -1].sum(axis=1), 1.0)


@pytest.mark.parametrize("algorithm", ALL, ids=lambda a: a.label)
def test_one_arm_gives_zero_regret(algorithm) -> None:
    # GIVEN a single model WHEN simulated THEN nothing is lost and it is trivially best.
    result = simulate(
        Scenario(ctrs=(0.05,), impressions_per_hour=200, hours=6, n_seeds=4), algorithm
    )
    assert (result.regret == 0).all()
    assert (result.impressions.sum(axis=(1, 2)) == 200 * 6).all()
    assert result.correct.all()


@pytest.mark.parametrize(
    "algorithm",
    [StaticSplit(), BatchedThompson(warmup_min_impressions=200)],
    ids=lambda a: a.label,
)
def test_identical_arms_are_declared_different_at_most_at_the_stated_rate(algorithm) -> None:
    # The stated rate: with K identical arms, a single look at P(best) >= 0.95 declares a
    # winner with probability about K (1 - 0.95) = 10% for two arms (P(best) is close to
    # uniform under the null). Bound the count of 400 seeds by its 99.9% binomial quantile.
    seeds = 400
    scenario = Scenario(
        ctrs=(0.05, 0.05), impressions_per_hour=300, hours=48, n_seeds=seeds, seed=7
    )
    result = simulate(scenario, algorithm)
    bound = stats.binom.ppf(0.999, seeds, 2 * (1 - scenario.threshold))
    assert result.identified.sum() <= bound
    assert not result.correct.any()  # no arm is truly best, so no declaration is correct
    assert np.isnan(summarise([result])[0].weaker_share)


def test_a_much_better_arm_takes_most_traffic_after_warmup_under_bts() -> None:
    scenario = Scenario(ctrs=(0.03, 0.09), impressions_per_hour=500, hours=36, n_seeds=20)
    algorithm = BatchedThompson(warmup_hours=6, warmup_min_impressions=1000)
    result = simulate(scenario, algorithm)
    during = result.allocation[:, :6, 1]
    after = result.impressions[:, 8:].sum(axis=1)
    assert abs(during.mean() - 0.5) < 0.05  # the even warm-up split
    assert (after[:, 1] / after.sum(axis=1) > 0.9).all()
    assert result.correct.all()


def test_floor_keeps_every_arm_served_after_warmup() -> None:
    scenario = Scenario(ctrs=(0.03, 0.09), impressions_per_hour=1000, hours=24, n_seeds=10)
    result = simulate(
        scenario, BatchedThompson(warmup_hours=2, warmup_min_impressions=0, floor=0.1)
    )
    weak = result.impressions[:, 12:, 0].sum(axis=1) / result.impressions[:, 12:].sum(axis=(1, 2))
    assert (weak > 0.08).all() and (weak < 0.2).all()


def test_summary_against_static_split() -> None:
    scenario = Scenario(ctrs=(0.10, 0.05), impressions_per_hour=500, hours=24, n_seeds=10)
    rows = summarise([simulate(scenario, a) for a in (StaticSplit((5, 5)), Thompson())])
    static, ts = rows
    assert static.regret_vs_static == 1.0
    assert static.weaker_share == pytest.approx(0.5, abs=0.02)
    # The weaker model serves ~250 requests an hour, each losing 0.05 clicks, for 24 hours.
    assert static.regret == pytest.approx(0.05 * 250 * 24, rel=0.05)
    assert ts.regret_vs_static < 0.5 and ts.weaker_share < 0.25
    assert ts.correct == 1.0 and ts.median_hours <= 24


def test_hourly_profile_scales_the_clicks() -> None:
    flat = Scenario(ctrs=(0.1, 0.1), impressions_per_hour=2000, hours=24, n_seeds=5)
    night = Scenario(**{**flat.__dict__, "hourly_profile": (0.0,) * 12 + (1.0,) * 12})
    clicks = simulate(night, StaticSplit()).clicks
    assert clicks[:, :12].sum() == 0 and clicks[:, 12:].sum() > 0
