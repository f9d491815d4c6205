"""Carry out guardrail actions through the repository, and the operator's way back.

Every automatic action is audited with ``by: guardrail``, the rule and the figures that tripped
it; every one raises (or repeats) an incident and goes to the notifier. Nothing here stops an
experiment or deletes data: a switched-off model is one entry in ``disabled_models``, a pause is
the ordinary pause, a held batch is recorded with ``held: true`` while the parameters in force
stay those of the last good batch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from services.exceptions import ValidationError
from services.experiments import Experiment, Status
from services.guardrails.evaluate import (
    ActionKind,
    GuardrailAction,
    ServingHealth,
    evaluate,
)
from services.guardrails.incidents import Incident
from services.guardrails.notify import LocalNotifier, Notifier
from services.lifecycle import Action
from services.mongo.incidents import raise_incident
from services.mongo.repository import MongoStore
from services.parameters import ParameterBatch

#: The ``by`` of every automatic action in the audit log.
GUARDRAIL = "guardrail"


@dataclass(frozen=True)
class Applied:
    """What :func:`apply_actions` did: the actions carried out and the incidents raised."""

    actions: tuple[GuardrailAction, ...]
    incidents: tuple[Incident, ...]
    held: bool


def _details(action: GuardrailAction) -> dict[str, object]:
    return {
        "rule": action.rule.value,
        "action": action.kind.value,
        "model_code": action.model_code,
        "message": action.message,
        "figures": action.figures,
    }


def apply_actions(
    store: MongoStore,
    actions: Sequence[GuardrailAction],
    *,
    batch: ParameterBatch | None = None,
    notifier: Notifier | None = None,
) -> Applied:
    """Apply ``actions`` (from :func:`~services.guardrails.evaluate.evaluate`) to the store.

    * ``switch_off``: the model joins ``disabled_models`` (the selector gives it weight 0); if
      that would leave the control alone, the experiment is paused instead;
    * ``pause``: the experiment is paused (serves the control) if it is running;
    * ``hold_batch``: ``batch`` is recorded as held and its parameters are not saved (the
      caller must not save it either; ``Applied.held`` says so);
    * ``alert``: an incident and a notification only.
    """
    notifier = notifier or LocalNotifier()
    done: list[GuardrailAction] = []
    incidents: list[Incident] = []
    held = False
    for action in actions:
        if not _carry_out(store, action, batch):
            continue
        held = held or action.kind is ActionKind.HOLD_BATCH
        done.append(action)
        incident, new = raise_incident(
            store, action, batch_id=batch.batch_id if batch is not None else None
        )
        incidents.append(incident)
        if new:
            notifier.notify(incident)
    return Applied(tuple(done), tuple(incidents), held)


def _carry_out(store: MongoStore, action: GuardrailAction, batch: ParameterBatch | None) -> bool:
    """Do one action; False when there is nothing to do (already done, or not applicable)."""
    exp_id = action.experiment_id
    details = _details(action)
    if action.kind is ActionKind.SWITCH_OFF:
        current = store.get_experiment(exp_id)
        code = action.model_code
        if code is None or code in current.disabled_models or not current.is_active:
            return False
        try:
            store.set_disabled_models(
                exp_id,
                (*current.disabled_models, code),
                by=GUARDRAIL,
                action="switch_off_model",
                expected_version=current.version,
                details=details,
            )
        except ValidationError:
            return _pause(store, current, details)
        return True
    if action.kind is ActionKind.PAUSE:
        return _pause(store, store.get_experiment(exp_id), details)
    if action.kind is ActionKind.HOLD_BATCH:
        if batch is not None:
            store.save_held_batch(batch)
        store.record_audit(exp_id, "hold_batch", by=GUARDRAIL, details=details)
        return True
    store.record_audit(exp_id, "alert", by=GUARDRAIL, details=details)
    return True


def _pause(store: MongoStore, current: Experiment, details: dict[str, object]) -> bool:
    if current.status is not Status.RUNNING:
        return False
    store.apply_action(
        current.experiment_id,
        Action.PAUSE,
        expected_version=current.version,
        by=GUARDRAIL,
        details=details,
    )
    return True


def without_disabled(batch: ParameterBatch, experiment: Experiment) -> ParameterBatch:
    """``batch`` with the switched-off models' weights at 0 and the others renormalised.

    The parameter job stores this, so that each batch's weights are the split actually served
    (the split check of the next batches compares the traffic with them).
    """
    if not experiment.disabled_models:
        return batch
    weights = [0.0 if a.model_code in experiment.disabled_models else a.weight for a in batch.arms]
    total = math.fsum(weights)
    if total <= 0:
        return batch
    arms = tuple(replace(a, weight=w / total) for a, w in zip(batch.arms, weights, strict=True))
    return replace(batch, arms=arms)


def re_enable_model(
    store: MongoStore, experiment_id: str, model_code: str, *, expected_version: int, by: str
) -> Experiment:
    """An operator puts a switched-off model back into the race (audited)."""
    current = store.get_experiment(experiment_id)
    if model_code not in current.disabled_models:
        raise ValidationError("model_code", f"{model_code!r} is not switched off")
    return store.set_disabled_models(
        experiment_id,
        tuple(c for c in current.disabled_models if c != model_code),
        by=by,
        action="re_enable_model",
        expected_version=expected_version,
        details={"model_code": model_code},
    )


def guard_batch(
    store: MongoStore,
    experiment: Experiment,
    batch: ParameterBatch,
    *,
    data_quality: Mapping[str, Any] | None = None,
    serving: ServingHealth | None = None,
    notifier: Notifier | None = None,
) -> ParameterBatch | None:
    """The parameter job's guardrail step for one experiment's new batch.

    Judges ``batch`` (its end is the batch's ``window_end``) with the experiment's hourly
    metrics and batch history, applies the actions, and returns the batch to save -- with the
    switched-off models at weight 0 -- or None when the batch was held (already recorded as
    held; the last good parameters stay in force).

    Args:
        data_quality: The counts of the batch's own hours (``malformed_lines``,
            ``orphan_clicks``, ``duplicate_events``; ``lines`` = readable lines of those hours).
    """
    rules = experiment.guardrails
    end = batch.window_end
    hours = max(rules.ctr_window_hours, rules.orders_window_hours) + 1
    rows = store.hourly_metrics(
        experiment.experiment_id, start=end - timedelta(hours=hours), end=end
    )
    history = store.parameter_history(experiment.experiment_id, limit=rules.srm_batches + 1)
    actions = evaluate(
        experiment,
        rows,
        [*(b for b in history if b.batch_id != batch.batch_id), batch],
        end=end,
        data_quality=data_quality,
        serving=serving,
    )
    applied = apply_actions(store, actions, batch=batch, notifier=notifier)
    if applied.held:
        return None
    return without_disabled(batch, store.get_experiment(experiment.experiment_id))
