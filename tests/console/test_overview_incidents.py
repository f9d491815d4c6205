"""The Overview lists open incidents by area and severity; an operator acknowledges one."""

from __future__ import annotations

from services.guardrails.evaluate import ActionKind, GuardrailAction, Rule
from services.mongo.incidents import list_incidents, raise_incident
from tests.console.conftest import texts
from tests.foundation.factories import arms, experiment


def _raise(store, area: str, kind: ActionKind, rule: Rule, model: str | None = None):
    action = GuardrailAction(kind, rule, "EXP-01", area, f"{rule.value} tripped", model)
    return raise_incident(store, action)[0]


def test_operator_acknowledges_an_incident(make_app, demo) -> None:
    paused = _raise(demo, "MAIN", ActionKind.PAUSE, Rule.SPLIT_INTEGRITY)
    _raise(demo, "DETAIL", ActionKind.HOLD_BATCH, Rule.DATA_QUALITY)
    at = make_app()
    assert not at.exception
    headings = [m.value for m in at.markdown if "·" in str(m.value) and "**" in str(m.value)]
    assert headings == ["**DETAIL** · warning (1)", "**MAIN** · critical (1)"]
    assert any("split_integrity tripped" in t for t in texts(at, "error"))
    at.button(key=f"ack_{paused.incident_id}").click().run()
    assert not at.exception
    (still_open,) = list_incidents(demo, status="open")
    assert still_open.rule == "data_quality"
    entry = demo.audit_history("EXP-01")[-1]
    assert (entry.action, entry.by) == ("acknowledge_incident", "olivia")
    assert not any("split_integrity tripped" in t for t in texts(at, "error"))


def test_analysts_see_incidents_without_buttons(make_app, demo) -> None:
    incident = _raise(demo, "MAIN", ActionKind.SWITCH_OFF, Rule.CTR_COLLAPSE, "EXP-01-NCF-01")
    at = make_app("adam")
    assert any("ctr_collapse tripped" in t for t in texts(at, "warning"))
    assert not [b for b in at.button if b.key == f"ack_{incident.incident_id}"]


def test_the_honest_demo_shows_no_incident(make_app, demo) -> None:
    at = make_app()
    assert not [m for m in at.subheader if m.value == "Incidents"]


def test_operator_re_enables_a_switched_off_model(make_app, demo) -> None:
    draft = demo.create_experiment(
        experiment(experiment_id="EXP-05", area_code="CART", arms=arms("C-A", "C-B", "C-C")),
        by="seed",
    )
    demo.apply_action("EXP-05", "start", expected_version=draft.version, by="seed")
    exp = demo.set_disabled_models("EXP-05", ["C-B"], by="guardrail", action="switch_off_model")
    action = GuardrailAction(ActionKind.SWITCH_OFF, Rule.CTR_COLLAPSE, "EXP-05", "CART", "x", "C-B")
    incident = raise_incident(demo, action)[0]
    at = make_app()
    at.button(key=f"enable_{incident.incident_id}").click().run()
    assert not at.exception and not at.error
    stored = demo.get_experiment("EXP-05")
    assert stored.disabled_models == () and stored.version == exp.version + 1
    entry = demo.audit_history("EXP-05")[-1]
    assert (entry.action, entry.by) == ("re_enable_model", "olivia")
    assert not [b for b in at.button if b.key == f"enable_{incident.incident_id}"]
