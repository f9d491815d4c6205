"""Every validation error of the simulation lab's configuration."""

from __future__ import annotations

from typing import Any

import pytest

from services.exceptions import ValidationError
from services.simulation import (
    UCB1,
    BatchedThompson,
    EpsilonGreedy,
    Scenario,
    StaticSplit,
    Thompson,
    simulate,
)
from services.simulation.scenario import algorithm_named


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"ctrs": "0.1,0.2"}, "ctrs"),
        ({"ctrs": ()}, "ctrs"),
        ({"ctrs": tuple([0.1] * 11)}, "ctrs"),
        ({"ctrs": (0.1, 1.5)}, "ctrs[1]"),
        ({"ctrs": (0.1, -0.1)}, "ctrs[1]"),
        ({"ctrs": (0.1, float("nan"))}, "ctrs[1]"),
        ({"ctrs": (0.1, "x")}, "ctrs[1]"),
        ({"impressions_per_hour": 0}, "impressions_per_hour"),
        ({"impressions_per_hour": 1.5}, "impressions_per_hour"),
        ({"hours": 0}, "hours"),
        ({"hours": 91 * 24}, "hours"),
        ({"n_seeds": 0}, "n_seeds"),
        ({"n_seeds": True}, "n_seeds"),
        ({"seed": -1}, "seed"),
        ({"threshold": 0.5}, "threshold"),
        ({"threshold": 1.0}, "threshold"),
        ({"hourly_profile": (1.0,) * 23}, "hourly_profile"),
        ({"hourly_profile": (1.0,) * 23 + (-1.0,)}, "hourly_profile"),
        ({"hourly_profile": (1.0,) * 23 + (20.0,)}, "hourly_profile"),
        ({"hourly_profile": (1.0,) * 23 + (None,)}, "hourly_profile[23]"),
        ({"arm_names": ("A",)}, "arm_names"),
        ({"arm_names": ("A", "A")}, "arm_names"),
    ],
)
def test_scenario_rejects(overrides: dict[str, Any], field: str) -> None:
    values: dict[str, Any] = {"ctrs": (0.067, 0.058)}
    values.update(overrides)
    with pytest.raises(ValidationError) as info:
        Scenario(**values)
    assert info.value.field == field


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: StaticSplit(weights=()), "weights"),
        (lambda: StaticSplit(weights=(1, -1)), "weights"),
        (lambda: StaticSplit(weights=(0, 0)), "weights"),
        (lambda: StaticSplit(weights="55"), "weights"),
        (lambda: EpsilonGreedy(epsilon=1.5), "epsilon"),
        (lambda: EpsilonGreedy(epsilon=float("inf")), "epsilon"),
        (lambda: EpsilonGreedy(update_minutes=7), "update_minutes"),
        (lambda: UCB1(update_minutes=0), "update_minutes"),
        (lambda: Thompson(update_minutes=2.5), "update_minutes"),
        (lambda: BatchedThompson(batch_minutes=45), "batch_minutes"),
        (lambda: BatchedThompson(batch_minutes=0), "batch_minutes"),
        (lambda: BatchedThompson(window_hours=0), "window_hours"),
        (lambda: BatchedThompson(warmup_hours=-1), "warmup_hours"),
        (lambda: BatchedThompson(warmup_min_impressions=-1), "warmup_min_impressions"),
        (lambda: BatchedThompson(floor=-0.1), "floor"),
        (lambda: BatchedThompson(warmup_weights=(0, 0)), "warmup_weights"),
        (lambda: algorithm_named("greedy"), "algorithms"),
    ],
)
def test_algorithm_rejects(build: Any, field: str) -> None:
    with pytest.raises(ValidationError) as info:
        build()
    assert info.value.field == field


@pytest.mark.parametrize(
    ("algorithm", "field"),
    [
        (StaticSplit(weights=(1, 1, 1)), "weights"),
        (BatchedThompson(warmup_weights=(1, 1, 1)), "warmup_weights"),
        (BatchedThompson(floor=0.5), "floor"),
        ("bts", "algorithm"),
    ],
)
def test_simulate_rejects_algorithm_not_fitting_scenario(algorithm: Any, field: str) -> None:
    with pytest.raises(ValidationError) as info:
        simulate(Scenario(ctrs=(0.1, 0.2), hours=1, n_seeds=1), algorithm)
    assert info.value.field == field


def test_weights_are_normalised() -> None:
    assert StaticSplit(weights=(5, 5)).weights == (0.5, 0.5)
    assert StaticSplit(weights=(2, 3, 5)).label == "static 2:3:5"
