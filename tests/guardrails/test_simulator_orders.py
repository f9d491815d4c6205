"""The Simulator gives each model an order rate and shows the orders each algorithm earns."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from services.exceptions import ValidationError
from services.simulation import Scenario, compare
from services.simulation.orders import check_order_rates
from services.simulation.scenario import algorithm_named

PAGE = str(Path(__file__).resolve().parents[2] / "console" / "views" / "simulator.py")


def page(**state) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=90)
    at.session_state["auth_user"] = {"name": "ana", "role": "analyst"}
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception
    return at


def test_orders_per_algorithm_equal_a_count_from_the_simulated_impressions() -> None:
    # GIVEN model B wins on clicks but orders at half model A's rate
    at = page(
        sim_seeds=3,
        sim_days=1,
        sim_per_hour=400,
        sim_algorithms=["static", "bts"],
        sim_ctr_a=0.05,
        sim_ctr_b=0.08,
        sim_orders_a=0.004,
        sim_orders_b=0.002,
        sim_warmup=2.0,
    )
    shown = next(f.value for f in at.dataframe if "orders lost vs best" in f.value.columns)
    shown = shown.set_index("algorithm")
    # THEN the orders equal the simulated impressions of each model times its order rate,
    # counted from the simulation's own arrays (mean over seeds)
    scenario = Scenario(ctrs=(0.05, 0.08), impressions_per_hour=400, hours=24, n_seeds=3, seed=0)
    settings = {
        "epsilon": 0.1,
        "batch_minutes": 60,
        "warmup_hours": 2.0,
        "floor": 0.0,
        "window_hours": 24,
        "estimator": "pooled",
    }
    results = compare(scenario, [algorithm_named(n, **settings) for n in ("static", "bts")])
    rates = (0.004, 0.002)
    for result in results:
        per_seed = result.impressions.sum(axis=1)  # (seeds, arms)
        expected = float((per_seed * rates).sum(axis=1).mean())
        assert shown.loc[result.label, "orders"] == pytest.approx(expected, rel=0.02)
        total = float(per_seed.sum(axis=1).mean())
        assert shown.loc[result.label, "orders per 1,000 impressions"] == pytest.approx(
            1000 * expected / total, rel=0.02
        )
    # AND the bandit, chasing clicks, loses more orders than the even split
    assert shown.loc["bts 60m", "orders lost vs best"] > shown.loc["static", "orders lost vs best"]


def test_an_order_rate_above_the_ctr_is_refused() -> None:
    at = page(
        sim_seeds=1,
        sim_days=1,
        sim_per_hour=100,
        sim_algorithms=["static"],
        sim_ctr_a=0.01,
        sim_orders_a=0.02,
    )
    assert any("Invalid order rates" in e.value for e in at.error)
    with pytest.raises(ValidationError):
        check_order_rates({"A": 0.02}, {"A": 0.01})
