"""The Experiments form's guardrail fields: stored on the draft, every invalid field named."""

from __future__ import annotations

from tests.console.conftest import shown
from tests.console.test_experiments import CREATE, click, fill_create


def test_guardrails_set_in_the_form_are_stored(make_app, demo) -> None:
    at = make_app(page="experiments")
    fill_create(at, "EXP-09", ("CART-POP-01", "CART-NCF-01"))
    at.number_input(key=f"{CREATE}_gr_ctr_margin").set_value(0.4)
    at.number_input(key=f"{CREATE}_gr_srm_batches").set_value(5)
    click(at, "Create draft")
    assert not at.exception and not at.error
    rules = demo.get_experiment("EXP-09").guardrails
    assert (rules.ctr_margin, rules.srm_batches, rules.orders_margin) == (0.4, 5, 0.2)


def test_every_invalid_guardrail_is_reported_at_once(make_app, demo) -> None:
    at = make_app(page="experiments")
    fill_create(at, "EXP-09", ("A-1", "B-1"))
    at.number_input(key=f"{CREATE}_gr_ctr_margin").set_value(1.5)
    at.number_input(key=f"{CREATE}_gr_ctr_probability").set_value(0.2)
    at.number_input(key=f"{CREATE}_gr_srm_batches").set_value(0)
    click(at, "Create draft")
    (error,) = at.error
    text = shown(error.value)
    assert text.startswith("guardrails:")
    for name in ("ctr_margin", "ctr_probability", "srm_batches"):
        assert f"({name})" in text
    assert [e.experiment_id for e in demo.list_experiments()] == ["EXP-01", "EXP-02"]
