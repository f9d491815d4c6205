"""Hour-stratified estimates against independent computations (Monte Carlo, plain loops, scipy)."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import numpy as np
import pytest
from scipy import stats

from services.exceptions import ValidationError
from services.hourly_metrics import HourlyMetric
from services.statistics.stratified import (
    bandit_parameters,
    estimate_arms,
    hajek_ctr,
    standing,
    stratified_lift,
    stratified_moments,
)

T0 = datetime(2026, 11, 20)


def rows_from(imps: np.ndarray, clicks: np.ndarray, codes=("A", "B")) -> list[dict]:
    return [
        {
            "experiment_id": "EXP-01",
            "model_code": code,
            "hour": T0 + timedelta(hours=h),
            "impressions": int(imps[h, k]),
            "clicks": int(clicks[h, k]),
        }
        for h in range(imps.shape[0])
        for k, code in enumerate(codes)
    ]


def test_stratified_ctr_is_the_traffic_weighted_mean_of_hourly_ctrs() -> None:
    # GIVEN two hours, written out by hand
    imps = np.array([[100, 300], [300, 100]])
    clicks = np.array([[10, 30], [3, 1]])
    # WHEN estimated
    a, b = estimate_arms(rows_from(imps, clicks), ["A", "B"])
    # THEN each arm's CTR is (400 * its hour-1 CTR + 400 * its hour-2 CTR) / 800
    assert a.ctr == pytest.approx(0.5 * 0.10 + 0.5 * 0.01)
    assert b.ctr == pytest.approx(0.5 * 0.10 + 0.5 * 0.01)
    # ... while pooling says A is worse (Simpson's paradox)
    assert a.pooled_ctr == pytest.approx(13 / 400) and b.pooled_ctr == pytest.approx(31 / 400)
    st = standing((a, b), "A")
    assert st.p_best[0] == pytest.approx(0.5, abs=0.05)  # equal CTRs; Beta skew differs
    assert st.pooled_p_best[1] > 0.99


def test_variance_formula_matches_monte_carlo_and_estimate_is_unbiased() -> None:
    # GIVEN a daily cycle and a bandit-like allocation that moves over 48 hours
    rng = np.random.default_rng(11)
    hours = 48
    p = 0.06 * (1 + 0.6 * np.cos(2 * np.pi * (np.arange(hours) % 24 - 20) / 24))
    share_a = np.linspace(0.5, 0.9, hours)
    n = np.stack([np.round(1500 * share_a), np.round(1500 * (1 - share_a))], axis=1).astype(int)
    truth = (n.sum(axis=1) * p).sum() / n.sum()
    # WHEN 20,000 replications of the clicks are estimated at once
    reps = 20_000
    clicks = rng.binomial(n[None, :, :], p[None, :, None], size=(reps, hours, 2))
    ctr, variance, _ = stratified_moments(np.broadcast_to(n, clicks.shape), clicks)
    # THEN the mean is the traffic-weighted CTR (no Simpson bias) and the stated variance
    # matches the replications' spread
    se = ctr[:, 0].std() / math.sqrt(reps)
    assert abs(ctr[:, 0].mean() - truth) < 4 * se
    assert abs(ctr[:, 1].mean() - truth) < 4 * se
    for k in range(2):
        assert variance[:, k].mean() == pytest.approx(ctr[:, k].var(), rel=0.05)
    # ... and pooled counts are biased towards the hours an arm had more of
    pooled = clicks.sum(axis=1) / n.sum(axis=0)
    assert abs(pooled[:, 0].mean() - pooled[:, 1].mean()) > 10 * se


def test_effective_sample_size_equals_impressions_for_a_flat_share_and_ctr() -> None:
    rng = np.random.default_rng(3)
    n = np.full((24, 2), 500)
    clicks = rng.binomial(n, 0.06)
    _, _, n_eff = stratified_moments(n, clicks)
    np.testing.assert_allclose(n_eff, 24 * 500, rtol=0.05)


def test_one_hour_gives_back_the_pooled_counts() -> None:
    params = bandit_parameters(rows_from(np.array([[1000, 400]]), np.array([[70, 20]])), ["A", "B"])
    assert params["A"] == pytest.approx((70.0, 930.0))
    assert params["B"] == pytest.approx((20.0, 380.0))


def test_moment_matched_beta_has_the_stratified_mean_and_variance() -> None:
    rng = np.random.default_rng(5)
    n = rng.integers(50, 800, size=(72, 2))
    p = 0.05 * (1 + 0.5 * np.sin(np.arange(72) / 24 * 2 * np.pi))
    clicks = rng.binomial(n, p[:, None])
    rows = rows_from(n, clicks)
    arms = estimate_arms(rows, ["A", "B"])
    params = bandit_parameters(rows, ["A", "B"])
    for arm in arms:
        alpha, beta = params[arm.model_code]
        assert alpha + beta == pytest.approx(arm.effective_impressions)
        dist = stats.beta(1 + alpha, 1 + beta)  # what the selector samples from
        assert dist.mean() == pytest.approx(arm.ctr, rel=2 / arm.effective_impressions / arm.ctr)
        assert dist.var() == pytest.approx(arm.variance, rel=0.05)


def test_arms_are_compared_on_the_hours_all_were_served() -> None:
    # GIVEN arm B missing from the high-CTR hour
    imps = np.array([[1000, 0], [1000, 1000]])
    clicks = np.array([[200, 0], [50, 50]])
    a, b = estimate_arms(rows_from(imps, clicks), ["A", "B"])
    # THEN both are judged on hour 2 only
    assert a.ctr == pytest.approx(0.05) and b.ctr == pytest.approx(0.05)
    assert a.hours == 2 and b.hours == 1


def test_a_model_without_impressions() -> None:
    arms = estimate_arms(rows_from(np.array([[100, 0]]), np.array([[5, 0]])), ["A", "B"])
    assert arms[1].impressions == 0 and arms[1].effective_impressions == 0
    assert arms[1].alpha == 0 and arms[1].beta == 0
    assert arms[0].ctr == pytest.approx(0.05)


def test_lift_interval_covers_the_truth_at_its_level() -> None:
    # Frequentist check of the normal interval of A - B by Monte Carlo.
    rng = np.random.default_rng(8)
    hours, reps = 24, 2000
    p = np.stack(
        [0.067 * (1 + 0.6 * np.cos(np.arange(hours) / 24 * 2 * np.pi)), [0.058] * hours], 1
    )
    n = np.stack([np.linspace(300, 1400, hours), np.linspace(1200, 100, hours)], 1).astype(int)
    truth = (n.sum(axis=1)[:, None] * p).sum(axis=0) / n.sum()
    covered = 0
    for _ in range(reps):
        clicks = rng.binomial(n, p)
        a, b = estimate_arms(rows_from(n, clicks), ["A", "B"])
        lift = stratified_lift(b, a)
        covered += lift.absolute_low <= truth[0] - truth[1] <= lift.absolute_high
    assert covered / reps == pytest.approx(0.95, abs=0.015)


def test_relative_lift_delta_method_matches_simulation() -> None:
    rng = np.random.default_rng(9)
    n = np.full((12, 2), 2000)
    clicks = rng.binomial(n, [0.07, 0.06], size=(4000, 12, 2))
    ctr, _, _ = stratified_moments(np.broadcast_to(n, clicks.shape), clicks)
    rel = ctr[:, 1] / ctr[:, 0] - 1
    a, b = estimate_arms(rows_from(n, clicks[0]), ["A", "B"])
    lift = stratified_lift(a, b)
    sd_stated = (lift.relative_high - lift.relative) / stats.norm.ppf(0.975)
    assert sd_stated == pytest.approx(rel.std(), rel=0.1)


def test_p_best_of_moment_matched_beta_matches_normal_monte_carlo() -> None:
    rng = np.random.default_rng(2)
    n = rng.integers(100, 900, size=(48, 2))
    clicks = rng.binomial(n, [0.065, 0.06])
    arms = estimate_arms(rows_from(n, clicks), ["A", "B"])
    st = standing(arms, "A")
    draws = rng.normal([a.ctr for a in arms], [math.sqrt(a.variance) for a in arms], (400_000, 2))
    assert st.p_best[0] == pytest.approx((draws[:, 0] > draws[:, 1]).mean(), abs=0.01)
    loss_b = np.maximum(draws[:, 0] - draws[:, 1], 0).mean()
    assert st.expected_loss[1] == pytest.approx(loss_b, rel=0.05)


def test_hajek_matches_a_direct_per_impression_computation() -> None:
    # Independent reference: the self-normalised IPW estimator (as in Open Bandit Pipeline),
    # computed from per-impression propensities and clicks, then aggregated per hour the way
    # the job stores it.
    rng = np.random.default_rng(4)
    propensity = rng.uniform(0.05, 0.95, 5000)
    clicked = rng.random(5000) < 0.06
    direct = (clicked / propensity).sum() / (1 / propensity).sum()
    hours = np.arange(5000) % 24
    rows = [
        {
            "model_code": "A",
            "ipw_weight": float((1 / propensity[hours == h]).sum()),
            "ipw_clicks": float((clicked[hours == h] / propensity[hours == h]).sum()),
        }
        for h in range(24)
    ] + [{"model_code": "A"}, {"model_code": "B", "ipw_weight": 5.0, "ipw_clicks": 5.0}]
    assert hajek_ctr(rows, "A") == pytest.approx(direct, rel=1e-12)
    assert hajek_ctr(rows, "C") is None


def test_hourly_metric_objects_and_filters() -> None:
    rows = [
        HourlyMetric("EXP-01", "A", T0, 100, 5),
        HourlyMetric("EXP-01", "B", T0, 100, 6),
        HourlyMetric("EXP-02", "A", T0, 100, 50),
        HourlyMetric("EXP-01", "A", T0 + timedelta(hours=1), 100, 50),
    ]
    params = bandit_parameters(
        rows, ["A", "B"], experiment_id="EXP-01", end=T0 + timedelta(hours=1)
    )
    assert params["A"] == pytest.approx((5.0, 95.0))


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ({"model_code": "A", "hour": T0, "impressions": -1, "clicks": 0}, "impressions"),
        ({"model_code": "A", "hour": T0, "impressions": 1, "clicks": 2}, "clicks"),
        ({"model_code": "A", "hour": "x", "impressions": 1, "clicks": 0}, "hour"),
        ({"model_code": "A", "impressions": 1, "clicks": 0}, "hour"),
    ],
)
def test_bad_rows_are_named(row: dict, field: str) -> None:
    with pytest.raises(ValidationError) as err:
        bandit_parameters([row], ["A"])
    assert err.value.field == field


def _growthbook_period_weighted(n: np.ndarray, means: np.ndarray, variances: np.ndarray):
    """GrowthBook's bandit (gbstats ``weight_by_period``), restated: periods weighted by their
    total traffic across variations; variance of the weighted mean ``Σ w² var / n``."""
    period_counts = n.sum(axis=1)
    w = np.tile((period_counts / period_counts.sum())[:, None], (1, n.shape[1]))
    mean = (means * w).sum(axis=0)
    var = (variances / n * w**2).sum(axis=0)
    return mean, var


def test_agrees_with_growthbooks_period_weighting_when_every_arm_is_served() -> None:
    rng = np.random.default_rng(21)
    n = rng.integers(20, 900, size=(36, 3))
    clicks = rng.binomial(n, [0.05, 0.06, 0.055])
    smooth = (clicks + 0.5) / (n + 1)
    mean, var = _growthbook_period_weighted(n, clicks / n, smooth * (1 - smooth))
    ctr, variance, _ = stratified_moments(n, clicks)
    np.testing.assert_allclose(ctr, mean, rtol=1e-12)
    np.testing.assert_allclose(variance, var, rtol=1e-12)
