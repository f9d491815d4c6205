"""Every field error at once: ``validation_errors`` for a form, the first one raised for the API."""

from __future__ import annotations

import pytest

from services.exceptions import ValidationError, ValidationErrors
from services.experiments import Arm, Experiment, validation_errors
from tests.foundation.factories import experiment


def _fields(errors) -> list[str]:
    return [e.field for e in errors]


def test_a_valid_experiment_has_no_errors():
    assert validation_errors(experiment().to_dict()) == ()


def test_every_invalid_field_is_reported_in_field_order():
    doc = {
        **experiment().to_dict(),
        "experiment_id": "exp 1",
        "name": " ",
        "batch_interval_minutes": 0,
        "warmup_hours": -1.0,
        "cache_ttl_seconds": 7200,
    }
    doc["arms"][1]["model_code"] = ""
    doc["arms"][1]["weight"] = -2
    errors = validation_errors(doc)
    assert _fields(errors) == [
        "arms[1].model_code",
        "arms[1].weight",
        "experiment_id",
        "name",
        "batch_interval_minutes",
        "warmup_hours",
        "cache_ttl_seconds",
    ]
    assert all(e.message for e in errors)


def test_the_api_still_gets_one_validation_error_naming_the_first_field():
    doc = {**experiment().to_dict(), "name": "", "cache_ttl_seconds": 0}
    with pytest.raises(ValidationError) as info:
        Experiment.from_dict(doc)
    assert info.value.field == "name"
    assert str(info.value) == "name: is required"
    assert isinstance(info.value, ValidationErrors)
    assert _fields(info.value.errors) == ["name", "cache_ttl_seconds"]


def test_a_single_error_is_a_plain_validation_error():
    with pytest.raises(ValidationError) as info:
        Experiment.from_dict({**experiment().to_dict(), "name": ""})
    assert type(info.value) is ValidationError


def test_arm_level_checks_still_run_when_an_arm_is_invalid():
    doc = experiment().to_dict()
    doc["arms"][0]["weight"] = 0
    doc["arms"][1]["control"] = True  # two controls
    assert _fields(validation_errors(doc)) == ["arms[0].weight", "arms"]


def test_checks_that_need_valid_arms_wait_for_them():
    # a duplicate model code: the floor check (floor x arms) and the promoted model are skipped
    # rather than reported against arms that are wrong anyway
    doc = experiment().to_dict()
    doc["arms"][1]["model_code"] = doc["arms"][0]["model_code"]
    doc["promoted_model"] = "NOPE"
    doc["exposure_floor"] = -0.1
    assert _fields(validation_errors(doc)) == ["arms[1].model_code", "exposure_floor"]


def test_an_arm_reports_all_its_fields():
    with pytest.raises(ValidationErrors) as info:
        Arm(model_code="a b", label=3, weight=0, control="yes")  # type: ignore[arg-type]
    assert _fields(info.value.errors) == ["model_code", "label", "weight", "control"]
