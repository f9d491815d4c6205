"""Small builders for experiments and areas used across tests."""

from __future__ import annotations

from typing import Any

from services.experiments import Area, Arm, Experiment, ExperimentType


def arms(*codes: str, weights: tuple[float, ...] | None = None) -> tuple[Arm, ...]:
    weights = weights or tuple(1.0 for _ in codes)
    return tuple(
        Arm(model_code=code, label=code, weight=w, control=(i == 0))
        for i, (code, w) in enumerate(zip(codes, weights, strict=True))
    )


def experiment(**overrides: Any) -> Experiment:
    values: dict[str, Any] = {
        "experiment_id": "EXP-01",
        "name": "Main page: APS002 vs NCF",
        "area_code": "MAIN",
        "type": ExperimentType.DYNAMIC,
        "arms": arms("EXP-01-APS002-01", "EXP-01-NCF-01"),
    }
    values.update(overrides)
    return Experiment(**values)


def area(code: str = "MAIN", default_model: str = "EXP-01-APS002-01") -> Area:
    return Area(area_code=code, default_model=default_model, name=f"{code} area")
