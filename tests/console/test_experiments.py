"""Experiments page: list, create, validation, clone, edit, lifecycle, roles, stale versions."""

from __future__ import annotations

import pytest

from services.experiments import Status
from tests.console.conftest import frame, shown, texts
from tests.foundation.factories import area, experiment

CREATE = "experiments_create_(blank)"


def click(at, label: str):
    return next(b for b in at.button if b.label == label).click().run()


def fill_create(at, experiment_id: str, codes: tuple[str, str], key: str = CREATE) -> None:
    at.text_input(key=f"{key}_experiment_id").input(experiment_id)
    at.text_input(key=f"{key}_name").input("Cart: popular vs NCF")
    at.selectbox(key=f"{key}_area_code").select("CART")
    for i, code in enumerate(codes):
        at.text_input(key=f"{key}_arm{i}_model_code").input(code)


def audit_actions(store, experiment_id: str) -> list[tuple[str, str]]:
    return [(e.action, e.by) for e in store.audit_history(experiment_id)]


def act(at, experiment_id: str, action: str, *, confirm: bool = True, promoted: str | None = None):
    at.selectbox(key="experiments_selected").select(experiment_id).run()
    at.selectbox(key=f"experiments_action_{experiment_id}").select(action)
    if promoted:
        at.selectbox(key=f"experiments_promoted_{experiment_id}").select(promoted)
    at.checkbox(key=f"experiments_confirm_{experiment_id}").check() if confirm else None
    return click(at, "Apply")


@pytest.fixture
def with_draft(demo):
    demo.create_experiment(
        experiment(experiment_id="EXP-03", area_code="CART", name="Cart draft"), by="seed"
    )
    return demo


def test_no_areas(make_app) -> None:
    at = make_app(page="experiments")
    assert "dynab demo-data" in texts(at, "info")[0]


def test_no_experiments_invites_an_operator_to_create_one(make_app, store) -> None:
    store.save_area(area("MAIN"))
    at = make_app(page="experiments")
    assert texts(at, "info") == ["No experiments yet. Create one in the form below."]
    assert at.text_input(key=f"{CREATE}_experiment_id") is not None


def test_list_and_filters(make_app, with_draft) -> None:
    at = make_app(page="experiments")
    assert list(frame(at, "id")["id"]) == ["EXP-01", "EXP-02", "EXP-03"]
    at.multiselect(key="experiments_filter_status").select("draft").run()
    assert list(frame(at, "id")["id"]) == ["EXP-03"]
    at.text_input(key="experiments_filter_text").input("nothing like this").run()
    assert "No experiment matches the filters" in texts(at, "info")[-1]


def test_create_writes_a_draft_and_the_audit_log(make_app, demo) -> None:
    at = make_app(page="experiments")
    fill_create(at, "EXP-09", ("CART-POP-01", "CART-NCF-01"))
    click(at, "Create draft")
    assert not at.exception
    assert texts(at, "success") == ["Draft EXP-09 created. Start it from the Lifecycle form."]
    stored = demo.get_experiment("EXP-09")
    assert stored.status is Status.DRAFT and stored.area_code == "CART"
    assert stored.model_codes == ("CART-POP-01", "CART-NCF-01")
    assert audit_actions(demo, "EXP-09") == [("create", "olivia")]
    assert at.selectbox(key="experiments_selected").value == "EXP-09"


@pytest.mark.parametrize(
    ("experiment_id", "codes", "message"),
    [
        ("exp 9", ("A-1", "B-1"), "experiment_id: 'exp 9' does not match"),
        ("EXP-09", ("A-1", "A-1"), "arms[1].model_code: model code 'A-1' appears twice"),
        ("EXP-09", ("A-1", ""), "arms[1].model_code: is required"),
        ("EXP-01", ("A-1", "B-1"), "Not created: experiment id EXP-01 is already taken"),
    ],
)
def test_create_shows_the_services_validation_message(
    make_app, demo, experiment_id, codes, message
) -> None:
    at = make_app(page="experiments")
    fill_create(at, experiment_id, codes)
    click(at, "Create draft")
    assert len(at.error) == 1 and shown(at.error[0].value).startswith(message)
    assert [e.experiment_id for e in demo.list_experiments()] == ["EXP-01", "EXP-02"]


def test_floor_too_high_names_the_field(make_app, demo) -> None:
    at = make_app(page="experiments")
    fill_create(at, "EXP-09", ("A-1", "B-1"))
    at.number_input(key=f"{CREATE}_exposure_floor").set_value(0.6)
    click(at, "Create draft")
    assert shown(at.error[0].value).startswith("exposure_floor: floor x arms must be below 1")


def test_clone_prefills_the_form_from_an_experiment(make_app, demo) -> None:
    at = make_app(page="experiments")
    at.selectbox(key="experiments_create_template").select("EXP-01").run()
    key = "experiments_create_EXP-01"
    assert at.text_input(key=f"{key}_arm1_model_code").value == "EXP-01-NCF-01"
    at.text_input(key=f"{key}_experiment_id").input("EXP-11")
    at.selectbox(key=f"{key}_area_code").select("CART")
    click(at, "Create draft")
    clone = demo.get_experiment("EXP-11")
    assert clone.model_codes == demo.get_experiment("EXP-01").model_codes
    assert clone.name.endswith("(copy)") and clone.status is Status.DRAFT


def test_edit_a_draft(make_app, with_draft) -> None:
    at = make_app(page="experiments")
    at.selectbox(key="experiments_selected").select("EXP-03").run()
    key = "experiments_edit_EXP-03_v1"
    at.text_input(key=f"{key}_name").input("Cart draft, renamed")
    click(at, "Save draft")
    stored = with_draft.get_experiment("EXP-03")
    assert stored.name == "Cart draft, renamed" and stored.version == 2
    assert audit_actions(with_draft, "EXP-03")[-1] == ("edit", "olivia")


def test_start_a_draft_changes_mongodb_and_the_audit_log(make_app, with_draft) -> None:
    at = act(make_app(page="experiments"), "EXP-03", "start")
    assert texts(at, "success") == ["EXP-03 is now running (by olivia)."]
    assert with_draft.get_experiment("EXP-03").status is Status.RUNNING
    assert with_draft.get_area("CART").active_experiment_id == "EXP-03"
    assert audit_actions(with_draft, "EXP-03")[-1] == ("start", "olivia")
    audit = frame(at, "at (UTC)")
    assert list(audit["action"])[:2] == ["start", "create"]


def test_pause_resume_then_stop_with_a_promoted_model(make_app, demo) -> None:
    at = make_app(page="experiments")
    act(at, "EXP-01", "pause")
    assert demo.get_experiment("EXP-01").status is Status.PAUSED
    act(at, "EXP-01", "resume")
    act(at, "EXP-01", "stop", promoted="EXP-01-APS002-01")
    stopped = demo.get_experiment("EXP-01")
    assert stopped.status is Status.STOPPED and stopped.promoted_model == "EXP-01-APS002-01"
    assert [a for a, _ in audit_actions(demo, "EXP-01")][-4:] == [
        "pause",
        "resume",
        "stop",
        "promote",
    ]
    assert demo.get_area("MAIN").active_experiment_id is None
    assert demo.get_area("MAIN").default_model == "EXP-01-APS002-01"
    assert texts(at, "success") == [
        "EXP-01 is now stopped (by olivia); MAIN now serves EXP-01-APS002-01 by default."
    ]


def test_the_confirmation_is_cleared_after_each_change(make_app, demo) -> None:
    # GIVEN an operator who confirmed and applied a pause
    at = act(make_app(page="experiments"), "EXP-01", "pause")
    assert demo.get_experiment("EXP-01").status is Status.PAUSED
    assert texts(at, "success") == ["EXP-01 is now paused (by olivia)."]
    # THEN the confirmation box is unticked again
    assert at.checkbox(key="experiments_confirm_EXP-01").value is False
    # AND a second Apply (now the next step, resume... or a stop) needs a new confirmation
    at.selectbox(key="experiments_action_EXP-01").select("stop")
    click(at, "Apply")
    assert texts(at, "warning") == ["Tick the confirmation box to apply the change."]
    assert demo.get_experiment("EXP-01").status is Status.PAUSED


def test_an_action_needs_the_confirmation(make_app, demo) -> None:
    at = act(make_app(page="experiments"), "EXP-01", "pause", confirm=False)
    assert texts(at, "warning") == ["Tick the confirmation box to apply the change."]
    assert demo.get_experiment("EXP-01").status is Status.RUNNING


def test_starting_in_a_busy_area_is_refused(make_app, demo) -> None:
    demo.create_experiment(experiment(experiment_id="EXP-05"), by="seed")  # area MAIN
    at = act(make_app(page="experiments"), "EXP-05", "start")
    message = shown(at.error[0].value)
    assert "area MAIN already has a running or paused experiment (EXP-01)" in message
    assert demo.get_experiment("EXP-05").status is Status.DRAFT


def test_a_stale_version_is_refused_with_a_clear_message(make_app, demo) -> None:
    at = make_app(page="experiments")
    at.selectbox(key="experiments_selected").select("EXP-01").run()  # this session sees v2
    demo.apply_action("EXP-01", "pause", expected_version=2, by="someone-else")
    at.selectbox(key="experiments_action_EXP-01").select("stop")
    at.checkbox(key="experiments_confirm_EXP-01").check()
    click(at, "Apply")
    assert any(
        "changed by someone else (you edited version 2, it is now at version 3)" in e
        for e in texts(at, "error")
    )
    assert demo.get_experiment("EXP-01").status is Status.PAUSED  # not stopped
    assert any("changed since you opened it" in w for w in texts(at, "warning"))
    # After reloading, the operator acts on the current version.
    at.button(key="experiments_reload").click().run()
    act(at, "EXP-01", "stop")
    assert demo.get_experiment("EXP-01").status is Status.STOPPED


def test_an_analyst_reads_but_cannot_act(make_app, with_draft) -> None:
    at = make_app(user="adam", page="experiments")
    at.selectbox(key="experiments_selected").select("EXP-03").run()
    assert any("only operators can change experiments" in i for i in texts(at, "info"))
    labels = {b.label for b in at.button}
    assert not labels & {"Apply", "Create draft", "Save draft"}
    assert [t.key for t in at.text_input] == ["experiments_filter_text"]  # no create/edit form
    assert len(frame(at, "at (UTC)")) == 1


def test_arms_show_the_weights_in_force_beside_the_split(make_app, demo) -> None:
    at = make_app(page="experiments")
    at.selectbox(key="experiments_selected").select("EXP-01").run()
    assert not at.exception
    arms = frame(at, "model").set_index("model")
    latest = demo.parameter_history("EXP-01")[-1]
    for arm in latest.arms:
        assert arms.loc[arm.model_code, "configured split"] == "50.0%"
        assert arms.loc[arm.model_code, "weight in force"] == f"{arm.weight * 100:.1f}%"


def test_audit_shows_each_change_from_and_to(make_app, demo) -> None:
    exp = demo.get_experiment("EXP-01")
    demo.apply_action("EXP-01", "pause", expected_version=exp.version, by="olivia")
    at = make_app(page="experiments")
    at.selectbox(key="experiments_selected").select("EXP-01").run()
    audit = frame(at, "at (UTC)")
    assert "status: running → paused" in audit["changed"].iloc[0]
