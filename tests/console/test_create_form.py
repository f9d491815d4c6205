"""The create form: it starts afresh after a create, keeps its values after a refusal, and
reports every invalid field at once."""

from __future__ import annotations

from tests.console.conftest import shown, texts
from tests.console.test_experiments import CREATE, click, fill_create


def test_the_form_is_cleared_after_a_successful_create(make_app, demo) -> None:
    at = make_app(page="experiments")
    fill_create(at, "EXP-09", ("CART-POP-01", "CART-NCF-01"))
    at.number_input(key=f"{CREATE}_warmup_hours").set_value(2.0)
    click(at, "Create draft")
    assert texts(at, "success") == ["Draft EXP-09 created. Start it from the Lifecycle form."]
    assert demo.get_experiment("EXP-09").warmup_hours == 2.0
    assert at.text_input(key=f"{CREATE}_experiment_id").value == ""
    assert at.text_input(key=f"{CREATE}_name").value == ""
    assert at.text_input(key=f"{CREATE}_arm0_model_code").value == ""
    assert at.number_input(key=f"{CREATE}_warmup_hours").value == 6.0
    # and a second create starts from that blank form
    fill_create(at, "EXP-10", ("DETAIL-A", "DETAIL-B"))
    click(at, "Create draft")
    assert demo.get_experiment("EXP-10").warmup_hours == 6.0


def test_the_form_keeps_its_values_after_a_refused_create(make_app, demo) -> None:
    at = make_app(page="experiments")
    fill_create(at, "EXP-09", ("A-1", "A-1"))
    click(at, "Create draft")
    assert at.error and not at.success
    assert at.text_input(key=f"{CREATE}_experiment_id").value == "EXP-09"
    assert at.text_input(key=f"{CREATE}_arm1_model_code").value == "A-1"
    at.text_input(key=f"{CREATE}_arm1_model_code").input("B-1")
    click(at, "Create draft")
    assert demo.get_experiment("EXP-09").model_codes == ("A-1", "B-1")


def test_every_invalid_field_is_reported_at_once(make_app, demo) -> None:
    at = make_app(page="experiments")
    fill_create(at, "exp 9", ("A-1", ""))
    at.text_input(key=f"{CREATE}_name").input("")
    at.number_input(key=f"{CREATE}_batch_interval_minutes").set_value(0)
    at.number_input(key=f"{CREATE}_exposure_floor").set_value(0.6)
    click(at, "Create draft")
    assert not at.exception
    (box,) = at.error
    text = shown(box.value)
    assert text.startswith("5 fields need a change:")
    for line in (
        "- arms[1].model_code: is required",
        "- experiment_id: 'exp 9' does not match",
        "- name: is required",
        "- batch_interval_minutes: must be at least 1",
        "- exposure_floor: floor x arms must be below 1",
    ):
        assert line in text, line
    assert [e.experiment_id for e in demo.list_experiments()] == ["EXP-01", "EXP-02"]
