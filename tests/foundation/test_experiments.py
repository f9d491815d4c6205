"""Experiment, arm and area validation: one test per error, each naming its field."""

from __future__ import annotations

import pytest

from services.exceptions import ValidationError
from services.experiments import Area, Arm, Experiment, ExperimentType, ServingMode, Status
from tests.foundation.factories import arms, experiment


def _field_of(fn, *args, **kwargs) -> str:
    with pytest.raises(ValidationError) as info:
        fn(*args, **kwargs)
    return info.value.field


def test_defaults_match_the_documented_ones():
    exp = experiment()
    assert exp.batch_interval_minutes == 60
    assert exp.evaluation_window_hours == 24
    assert exp.serving_mode is ServingMode.DRAW
    assert exp.status is Status.DRAFT
    assert exp.cache_ttl_seconds == 300
    assert exp.control_arm.model_code == "EXP-01-APS002-01"


def test_static_weights_are_normalised_explicitly():
    exp = experiment(type="static", arms=arms("A", "B", "C", weights=(2, 3, 5)))
    assert exp.type is ExperimentType.STATIC
    assert exp.normalised_weights == pytest.approx((0.2, 0.3, 0.5))
    # the configured weights are kept as given
    assert [a.weight for a in exp.arms] == [2, 3, 5]


def test_round_trip_through_a_document():
    exp = experiment(exposure_floor=0.05, serving_mode="sticky")
    again = Experiment.from_dict({"_id": "ignored", **exp.to_dict()})
    assert again == exp


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"experiment_id": "exp-01"}, "experiment_id"),
        ({"experiment_id": ""}, "experiment_id"),
        ({"experiment_id": "EXP-" + "1" * 40}, "experiment_id"),
        ({"experiment_id": {"$gt": ""}}, "experiment_id"),
        ({"name": "  "}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"area_code": "main page"}, "area_code"),
        ({"type": "bandit"}, "type"),
        ({"serving_mode": "random"}, "serving_mode"),
        ({"status": "done"}, "status"),
        ({"arms": arms("A")}, "arms"),
        ({"arms": arms(*[f"M{i}" for i in range(11)])}, "arms"),
        ({"arms": (Arm("A", control=True), Arm("A"))}, "arms[1].model_code"),
        ({"arms": (Arm("A"), Arm("B"))}, "arms"),
        ({"arms": (Arm("A", control=True), Arm("B", control=True))}, "arms"),
        ({"arms": ["A", "B"]}, "arms"),
        ({"batch_interval_minutes": 0}, "batch_interval_minutes"),
        ({"batch_interval_minutes": 1.5}, "batch_interval_minutes"),
        ({"evaluation_window_hours": 0}, "evaluation_window_hours"),
        ({"warmup_hours": -1}, "warmup_hours"),
        ({"warmup_hours": float("nan")}, "warmup_hours"),
        ({"warmup_min_impressions": -5}, "warmup_min_impressions"),
        ({"exposure_floor": -0.1}, "exposure_floor"),
        ({"exposure_floor": 0.5}, "exposure_floor"),
        ({"cache_ttl_seconds": 3601}, "cache_ttl_seconds"),
        ({"cache_ttl_seconds": 0}, "cache_ttl_seconds"),
        ({"salt": 5}, "salt"),
        ({"promoted_model": "Z"}, "promoted_model"),
        ({"version": -1}, "version"),
    ],
)
def test_every_invalid_experiment_field_is_named(overrides, field):
    assert _field_of(experiment, **overrides) == field


def test_floor_times_arms_must_stay_below_one():
    # GIVEN three arms, a floor of 1/3 leaves nothing for the bandit
    with pytest.raises(ValidationError, match=r"floor x arms must be below 1"):
        experiment(arms=arms("A", "B", "C"), exposure_floor=1 / 3)
    # a floor just under it is fine
    assert experiment(arms=arms("A", "B", "C"), exposure_floor=0.33).exposure_floor == 0.33


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"model_code": "has space"}, "model_code"),
        ({"model_code": "A" * 65}, "model_code"),
        ({"model_code": "A", "weight": 0}, "weight"),
        ({"model_code": "A", "weight": -2}, "weight"),
        ({"model_code": "A", "weight": float("inf")}, "weight"),
        ({"model_code": "A", "weight": "1"}, "weight"),
        ({"model_code": "A", "label": 3}, "label"),
        ({"model_code": "A", "control": "yes"}, "control"),
    ],
)
def test_every_invalid_arm_field_is_named(kwargs, field):
    assert _field_of(Arm, **kwargs) == field


def test_arm_errors_from_a_document_carry_their_position():
    doc = experiment().to_dict()
    doc["arms"][1]["weight"] = 0
    assert _field_of(Experiment.from_dict, doc) == "arms[1].weight"
    doc["arms"][1] = "B"
    assert _field_of(Experiment.from_dict, doc) == "arms[1]"
    doc["arms"] = "AB"
    assert _field_of(Experiment.from_dict, doc) == "arms"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"area_code": "", "default_model": "A"}, "area_code"),
        ({"area_code": "MAIN", "default_model": "a b"}, "default_model"),
        ({"area_code": "MAIN", "default_model": "A", "name": 1}, "name"),
    ],
)
def test_every_invalid_area_field_is_named(kwargs, field):
    assert _field_of(Area, **kwargs) == field
