"""The lab's physics (daily cycle, repeat visitors, cache TTL, job latency, drift) and decisions."""

from __future__ import annotations

import numpy as np
import pytest

from services.exceptions import ValidationError
from services.simulation import BatchedThompson, Scenario, StaticSplit, simulate
from services.simulation.evaluation import decision_rows, window_figures
from services.simulation.pbest import decision_grid
from services.simulation.simulator import _clicks
from services.statistics import expected_loss, probability_best

CYCLE = Scenario(ctrs=(0.067, 0.058), cycle_amplitude=0.6, hours=24, n_seeds=1)


def test_daily_cycle_averages_to_the_ctr_and_peaks_at_the_peak_hour() -> None:
    day = np.array([CYCLE.ctr_at(h) for h in range(24)])
    np.testing.assert_allclose(day.mean(axis=0), (0.067, 0.058), rtol=1e-12)
    assert int(day[:, 0].argmax()) in (19, 20)  # the hour containing 20:00 or just before
    assert day[:, 0].max() == pytest.approx(0.067 * 1.6, rel=0.01)


def test_per_model_amplitudes_and_drift() -> None:
    sc = Scenario(
        ctrs=(0.06, 0.06), cycle_amplitude=(0.5, 0.0), ctrs_after=(0.05, 0.07), drift_hour=10
    )
    assert sc.ctr_at(3)[1] == pytest.approx(0.06)
    assert sc.ctr_at(10)[1] == pytest.approx(0.07)
    assert sc.best_arm == 1 and sc.final_ctrs == (0.05, 0.07)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"cycle_amplitude": 1.0}, "cycle_amplitude"),
        ({"cycle_amplitude": (0.1,)}, "cycle_amplitude"),
        ({"ctrs": (0.7, 0.6), "cycle_amplitude": 0.6}, "cycle_amplitude"),
        ({"peak_hour": 25}, "peak_hour"),
        ({"repeat_visits": 0.5}, "repeat_visits"),
        ({"member_spread": -1}, "member_spread"),
        ({"cache_ttl_seconds": 90}, "cache_ttl_seconds"),
        ({"cache_ttl_seconds": 7200}, "cache_ttl_seconds"),
        ({"job_latency_minutes": 60}, "job_latency_minutes"),
        ({"ctrs_after": (0.1,)}, "ctrs_after"),
        ({"rule": 0.95}, "rule"),
    ],
)
def test_physics_validation(changes: dict, field: str) -> None:
    with pytest.raises(ValidationError) as err:
        Scenario(**{"ctrs": (0.05, 0.05), **changes})
    assert err.value.field == field


def test_repeat_visitors_overdisperse_clicks_as_stated() -> None:
    # Var = n p (1 - p) + (v - 1) n Var(q), Var(q) = (spread p)^2: checked over many ticks.
    sc = Scenario(ctrs=(0.06,), repeat_visits=4.0, member_spread=0.8)
    rng = np.random.default_rng(1)
    n, p = 200, 0.06
    clicks = _clicks(rng, np.full((200_000, 1), n), np.array([p]), sc)
    expected = n * p * (1 - p) + 3 * n * (0.8 * p) ** 2
    assert clicks.mean() == pytest.approx(n * p, rel=0.01)
    assert clicks.var() == pytest.approx(expected, rel=0.03)
    plain = _clicks(rng, np.full((200_000, 1), n), np.array([p]), Scenario(ctrs=(0.06,)))
    assert plain.var() == pytest.approx(n * p * (1 - p), rel=0.03)


def _first_bandit_hour_share(**physics) -> float:
    sc = Scenario(ctrs=(0.03, 0.09), impressions_per_hour=1200, hours=8, n_seeds=200, **physics)
    r = simulate(sc, BatchedThompson(warmup_hours=6, warmup_min_impressions=100))
    return float(r.allocation[:, 6, 1].mean())  # hour 6: the first after warm-up


def test_job_latency_and_cache_delay_the_switch() -> None:
    prompt = _first_bandit_hour_share()
    late = _first_bandit_hour_share(job_latency_minutes=30)
    cached = _first_bandit_hour_share(cache_ttl_seconds=3600, repeat_visits=10.0)
    assert prompt > 0.95
    # 30 of 60 minutes still on the 50/50 warm-up split
    assert late == pytest.approx(0.5 * 0.5 + 0.5 * prompt, abs=0.02)
    # 90 % repeat visitors within a 1 h TTL, decaying linearly: 45 % of the hour on the old split
    assert cached == pytest.approx(0.45 * 0.5 + 0.55 * prompt, abs=0.02)


def test_decision_grid_matches_the_exact_functions() -> None:
    rng = np.random.default_rng(0)
    a = 1 + rng.integers(10, 3000, size=(20, 3)).astype(float)
    b = a * rng.uniform(8, 30, size=(20, 3))
    p, loss = decision_grid(a, b)
    for i in range(20):
        np.testing.assert_allclose(p[i], probability_best(a[i], b[i]), atol=1e-3)
        exact = expected_loss(a[i], b[i])
        np.testing.assert_allclose(loss[i], exact, atol=1e-3 * exact.max() + 1e-7)


def test_stratified_removes_the_cycle_bias_pooled_keeps_it() -> None:
    sc = Scenario(ctrs=(0.067, 0.058), cycle_amplitude=0.6, hours=72, n_seeds=100, seed=9)
    rows = decision_rows([simulate(sc, BatchedThompson(window_hours=None, estimator="stratified"))])
    by = {r.estimator: r for r in rows}
    assert abs(by["stratified"].bias_pp) < 0.08
    assert by["pooled"].bias_pp > 0.15


def test_identical_models_rarely_crowned_under_the_rule_with_the_stratified_estimator() -> None:
    sc = Scenario(ctrs=(0.062, 0.062), cycle_amplitude=0.6, hours=96, n_seeds=150, seed=5)
    result = simulate(sc, BatchedThompson(window_hours=None, estimator="stratified"))
    rows = {r.estimator: r for r in decision_rows([result])}
    assert rows["stratified"].winner <= 0.08
    assert rows["stratified"].correct == 0.0  # no arm is truly best
    assert rows["pooled"].winner > 0.3


def test_window_figures() -> None:
    sc = Scenario(ctrs=(0.067, 0.058), hours=8 * 24, n_seeds=20, seed=2)
    f = window_figures(simulate(sc, StaticSplit()), days=(7, 30))
    assert f.weaker_share[7] == pytest.approx(0.5, abs=0.01)
    assert np.isnan(f.weaker_share[30])  # beyond the horizon
    assert f.stability < 0.05
