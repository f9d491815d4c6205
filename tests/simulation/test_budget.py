"""The simulation work budget: estimates, refusals with a reason, and progress on the page."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from console import memo
from services.exceptions import ValidationError
from services.simulation import Scenario, compare
from services.simulation.budget import (
    Budget,
    BudgetExceededError,
    check_budget,
    estimate,
    progress_tracker,
)
from services.simulation.scenario import algorithm_named

PAGE = str(Path(__file__).resolve().parents[2] / "console" / "views" / "simulator.py")
DEFAULT_ALGORITHMS = [algorithm_named(n) for n in ("static", "epsilon-greedy", "bts")]


def scenario(per_hour: int = 1500, days: int = 3, seeds: int = 20, arms: int = 2) -> Scenario:
    ctrs = tuple(0.05 + 0.002 * i for i in range(arms))
    return Scenario(ctrs=ctrs, impressions_per_hour=per_hour, hours=days * 24, n_seeds=seeds)


def test_the_browsers_worst_case_is_refused_and_the_page_default_fits() -> None:
    huge = estimate(scenario(per_hour=1_000_000, days=30, seeds=1000), DEFAULT_ALGORITHMS)
    assert huge.seconds > 10 * Budget().max_seconds
    reason = huge.refusal(Budget())
    assert reason is not None and "too large" in reason and "budget 30 s" in reason
    assert estimate(scenario(), DEFAULT_ALGORITHMS).refusal(Budget()) is None


def test_cost_grows_with_seeds_hours_and_arms_and_draws_with_impressions() -> None:
    base = estimate(scenario(), DEFAULT_ALGORITHMS)
    assert estimate(scenario(seeds=40), DEFAULT_ALGORITHMS).pbest_evaluations == (
        2 * base.pbest_evaluations
    )
    assert estimate(scenario(days=6), DEFAULT_ALGORITHMS).seconds > 1.9 * base.seconds
    wide = estimate(scenario(arms=10, seeds=1000, days=1), [algorithm_named("static")])
    assert wide.memory_mb > Budget().max_memory_mb  # the (seeds, arms, grid) temporaries
    # impressions per hour cost nothing but for per-request Thompson sampling
    assert estimate(scenario(per_hour=10**6), DEFAULT_ALGORITHMS).draws == 0
    ts = [algorithm_named("ts")]
    assert estimate(scenario(per_hour=3000), ts).draws == 2 * estimate(scenario(), ts).draws


def test_check_budget_raises_with_the_reason() -> None:
    with pytest.raises(BudgetExceededError, match=r"too large.*Lower the seeds"):
        check_budget(scenario(seeds=1000, days=30), DEFAULT_ALGORITHMS, Budget())
    tight = Budget(max_seconds=0.01)
    with pytest.raises(BudgetExceededError, match=r"budget 0\.01 s"):
        check_budget(scenario(), DEFAULT_ALGORITHMS, tight)


@pytest.mark.parametrize(
    ("env", "name"),
    [
        ({"DYNAB_SIM_BUDGET_SECONDS": "lots"}, "DYNAB_SIM_BUDGET_SECONDS"),
        ({"DYNAB_SIM_BUDGET_SECONDS": "0"}, "DYNAB_SIM_BUDGET_SECONDS"),
        ({"DYNAB_SIM_BUDGET_MB": "-5"}, "DYNAB_SIM_BUDGET_MB"),
    ],
)
def test_malformed_budget_settings_name_the_variable(env: dict, name: str) -> None:
    with pytest.raises(ValidationError, match=name):
        Budget.from_env(env)


def test_budget_from_the_environment() -> None:
    assert Budget.from_env({}) == Budget(30.0, 512.0)
    assert Budget.from_env({"DYNAB_SIM_BUDGET_SECONDS": "120"}).max_seconds == 120.0


def test_progress_goes_through_every_algorithm_to_one() -> None:
    reports: list[float] = []
    hook = progress_tracker(2, lambda share, text: reports.append(share))
    compare(
        scenario(days=2, seeds=2),
        [algorithm_named("static"), algorithm_named("bts")],
        hook,
    )
    assert reports == sorted(reports) and reports[-1] == 1.0
    assert any(0.45 < r <= 0.55 for r in reports)  # the first of two algorithms done


def _page(**values) -> AppTest:
    memo.clear()  # every page test simulates afresh
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["auth_user"] = {"name": "ana", "role": "analyst"}
    for key, value in values.items():
        at.session_state[f"sim_{key}"] = value
    return at


def test_the_page_refuses_a_huge_run_at_once_with_the_reason() -> None:
    at = _page(per_hour=1_000_000, days=30, seeds=1000)
    started = time.perf_counter()
    at.run()
    elapsed = time.perf_counter() - started
    assert not at.exception
    [error] = [e.value for e in at.error]
    assert error.startswith("This simulation is too large: it would need ~")
    assert not at.dataframe and not at.get("vega_lite_chart")  # nothing was simulated
    print(f"refused in {elapsed:.2f} s")


def test_a_small_run_shows_its_progress_reaching_100_percent() -> None:
    at = _page(seeds=3, days=1, per_hour=200, algorithms=["static", "bts"])
    at.run()
    assert not at.exception
    [bar] = at.get("progress")
    assert bar.proto.value == 100 and bar.proto.text == "Simulation complete"
    assert at.dataframe[0].value["algorithm"].tolist() == ["static", "bts 60m"]


def test_the_budget_is_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DYNAB_SIM_BUDGET_SECONDS", "0.001")
    at = _page(seeds=7, days=1, per_hour=200, algorithms=["static"])
    at.run()
    assert "budget 0.001 s" in at.error[0].value
