"""The lifecycle state machine: every legal path and every refusal."""

from __future__ import annotations

from datetime import datetime

import pytest

from services.exceptions import TransitionError, ValidationError
from services.experiments import Status
from services.lifecycle import Action, allowed_actions, check_editable, transition
from tests.foundation.factories import experiment

T0 = datetime(2026, 11, 28, 9, 0)


def test_draft_runs_pauses_resumes_and_stops_with_a_promoted_model():
    exp = transition(experiment(), "start", now=T0, by="ops")
    assert exp.status is Status.RUNNING and exp.started_at == T0
    exp = transition(exp, Action.PAUSE, now=T0, by="ops")
    assert exp.status is Status.PAUSED
    exp = transition(exp, Action.RESUME, now=T0, by="ops")
    assert exp.status is Status.RUNNING
    exp = transition(exp, Action.STOP, now=T0, by="ops", promoted_model="EXP-01-NCF-01")
    assert exp.status is Status.STOPPED
    assert exp.promoted_model == "EXP-01-NCF-01"
    assert exp.stopped_at == T0 and exp.updated_by == "ops"


def test_a_paused_experiment_can_be_stopped():
    exp = transition(experiment(status="paused"), "stop", now=T0, by="ops")
    assert exp.status is Status.STOPPED and exp.promoted_model is None


@pytest.mark.parametrize(
    ("status", "action"),
    [
        ("draft", "pause"),
        ("draft", "resume"),
        ("draft", "stop"),
        ("running", "start"),
        ("running", "resume"),
        ("paused", "start"),
        ("paused", "pause"),
        ("stopped", "start"),
        ("stopped", "pause"),
        ("stopped", "resume"),
        ("stopped", "stop"),
    ],
)
def test_illegal_transitions_name_the_current_state(status, action):
    with pytest.raises(
        TransitionError, match=rf"cannot {action} experiment EXP-01: it is {status}"
    ):
        transition(experiment(status=status), action, now=T0, by="ops")


def test_unknown_action_and_misplaced_promoted_model_are_validation_errors():
    with pytest.raises(ValidationError) as info:
        transition(experiment(), "launch", now=T0, by="ops")
    assert info.value.field == "action"
    with pytest.raises(ValidationError) as info:
        transition(experiment(), "start", now=T0, by="ops", promoted_model="EXP-01-NCF-01")
    assert info.value.field == "promoted_model"
    running = experiment(status="running")
    with pytest.raises(ValidationError) as info:
        transition(running, "stop", now=T0, by="ops", promoted_model="NOT-AN-ARM")
    assert info.value.field == "promoted_model"


def test_allowed_actions_and_editability():
    assert allowed_actions(Status.DRAFT) == (Action.START,)
    assert set(allowed_actions(Status.RUNNING)) == {Action.PAUSE, Action.STOP}
    assert set(allowed_actions(Status.PAUSED)) == {Action.RESUME, Action.STOP}
    assert allowed_actions(Status.STOPPED) == ()
    check_editable(experiment())
    with pytest.raises(TransitionError, match="only a draft can be edited"):
        check_editable(experiment(status="running"))
