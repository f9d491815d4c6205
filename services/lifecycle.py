"""The experiment lifecycle: draft -> running <-> paused -> stopped.

``stopped`` is terminal and may name the promoted model (the arm that won and now serves the
area by default). Transitions are pure: they take an experiment and the time, and return the new
experiment; storing it, with its version check and the one-experiment-per-area rule, is the
repository's job.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from services.exceptions import TransitionError, ValidationError
from services.experiments import Experiment, Status


class Action(StrEnum):
    START = "start"
    PAUSE = "pause"
    RESUME = "resume"
    STOP = "stop"


#: action -> (states it is allowed from, state it leads to)
TRANSITIONS: dict[Action, tuple[frozenset[Status], Status]] = {
    Action.START: (frozenset({Status.DRAFT}), Status.RUNNING),
    Action.PAUSE: (frozenset({Status.RUNNING}), Status.PAUSED),
    Action.RESUME: (frozenset({Status.PAUSED}), Status.RUNNING),
    Action.STOP: (frozenset({Status.RUNNING, Status.PAUSED}), Status.STOPPED),
}


def allowed_actions(status: Status) -> tuple[Action, ...]:
    """The actions an operator may take on an experiment in ``status``."""
    return tuple(action for action, (sources, _) in TRANSITIONS.items() if status in sources)


def transition(
    experiment: Experiment,
    action: Action | str,
    *,
    now: datetime,
    by: str,
    promoted_model: str | None = None,
) -> Experiment:
    """Apply ``action`` and return the experiment in its new state.

    Raises:
        TransitionError: the action is not allowed from the current state (the message names it).
        ValidationError: an unknown action, or a promoted model that is not an arm, or a promoted
            model given to an action other than stop.
    """
    try:
        action = Action(action)
    except ValueError:
        allowed = ", ".join(a.value for a in Action)
        raise ValidationError("action", f"{action!r} is not one of: {allowed}") from None
    sources, target = TRANSITIONS[action]
    if experiment.status not in sources:
        raise TransitionError(experiment.experiment_id, action.value, experiment.status.value)
    if promoted_model is not None and action is not Action.STOP:
        raise ValidationError("promoted_model", "only a stop can name a promoted model")
    changes: dict[str, object] = {"status": target, "updated_at": now, "updated_by": by}
    if action is Action.START:
        changes["started_at"] = now
    if action is Action.STOP:
        changes["stopped_at"] = now
        changes["promoted_model"] = promoted_model
    return experiment.with_changes(**changes)


def check_editable(experiment: Experiment) -> None:
    """Only a draft's configuration may change; a running test's arms and split are fixed."""
    if experiment.status is not Status.DRAFT:
        raise TransitionError(
            experiment.experiment_id,
            "edit",
            experiment.status.value,
            f"cannot edit experiment {experiment.experiment_id}: it is "
            f"{experiment.status.value}; only a draft can be edited (clone it instead)",
        )
