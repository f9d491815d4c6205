"""Guardrail actions through the repository on the embedded MongoDB, and the selector after."""

from __future__ import annotations

import json
import logging
from collections import Counter
from datetime import datetime, timedelta

import pytest

from services.clock import FixedClock
from services.exceptions import TransitionError
from services.experiments import Status
from services.guardrails.apply import apply_actions, re_enable_model
from services.guardrails.evaluate import ActionKind, Rule, evaluate
from services.guardrails.incidents import IncidentStatus, group_incidents
from services.guardrails.notify import LocalNotifier
from services.hourly_metrics import HourlyMetric
from services.lifecycle import Action
from services.mongo.incidents import acknowledge_incident, list_incidents
from services.mongo.repository import MongoStore
from services.parameters import BatchArm, ParameterBatch
from services.serving.request import SelectRequest
from tests.foundation.factories import arms
from tests.serving.conftest import make_service, start_experiment

CODES = ("CTRL", "M-A", "M-B")
T0 = datetime(2026, 11, 20, 0)


def hour_rows(exp_id: str, hour: datetime, ctr: dict[str, float], n: int = 3000):
    return [
        HourlyMetric(exp_id, code, hour, n, round(n * rate), round(n * rate / 10))
        for code, rate in ctr.items()
    ]


def batch(exp_id: str, end: datetime, batch_id: str, **extra) -> ParameterBatch:
    return ParameterBatch(
        experiment_id=exp_id,
        batch_id=batch_id,
        window_start=T0,
        window_end=end,
        arms=tuple(
            BatchArm(c, 100, 1900, 0.5, w) for c, w in zip(CODES, (0.3, 0.4, 0.3), strict=True)
        ),
        warmup=False,
        **extra,
    )


def run_batch(store: MongoStore, exp_id: str, end: datetime, ctr, *, batch_id, quality=None):
    """One hourly batch as the job does it: metrics, evaluate, apply, save unless held."""
    hour = end - timedelta(hours=1)
    store.replace_hourly_metrics(exp_id, [hour], hour_rows(exp_id, hour, ctr))
    current = batch(exp_id, end, batch_id, data_quality=quality)
    exp = store.get_experiment(exp_id)
    actions = evaluate(
        exp,
        store.hourly_metrics(exp_id, start=end - timedelta(hours=48), end=end),
        [*store.parameter_history(exp_id), current],
        end=end,
        data_quality=quality,
    )
    applied = apply_actions(store, actions, batch=current)
    if not applied.held:
        store.save_parameter_batch(current)
    return applied


@pytest.fixture
def running(store: MongoStore):
    return start_experiment(store, arms=arms(*CODES), serving_mode="sticky")


def test_a_collapsed_model_is_switched_off_served_no_more_and_re_enabled(
    store: MongoStore, clock: FixedClock, running, caplog
) -> None:
    exp_id = running.experiment_id
    healthy = dict.fromkeys(CODES, 0.05)
    end = T0
    for i in range(6):
        end += timedelta(hours=1)
        assert run_batch(store, exp_id, end, healthy, batch_id=f"B-{i}").actions == ()
    service = make_service(store, clock, refresh_seconds=30.0)
    before = Counter(
        service.select(SelectRequest(str(m), "MAIN")).body["model_code"] for m in range(600)
    )
    assert before["M-A"] > 100
    # The true CTR of M-A drops to 1 %: switched off within 2 batches.
    dropped = {**healthy, "M-A": 0.01}
    caught_at = None
    with caplog.at_level(logging.WARNING, logger="dynab.incidents"):
        for i in range(6, 8):
            end += timedelta(hours=1)
            applied = run_batch(store, exp_id, end, dropped, batch_id=f"B-{i}")
            if applied.actions:
                caught_at = i - 5
                break
    assert caught_at is not None and caught_at <= 2, caught_at
    (action,) = applied.actions
    assert (action.kind, action.rule, action.model_code) == (
        ActionKind.SWITCH_OFF,
        Rule.CTR_COLLAPSE,
        "M-A",
    )
    exp = store.get_experiment(exp_id)
    assert exp.disabled_models == ("M-A",) and exp.status is Status.RUNNING
    # The audit entry, the incident and the notification exist.
    entry = store.audit_history(exp_id)[-1]
    assert (entry.action, entry.by) == ("switch_off_model", "guardrail")
    assert entry.details["rule"] == "ctr_collapse"
    assert entry.details["figures"]["probability"] >= 0.99
    (incident,) = list_incidents(store, status="open")
    assert (incident.severity, incident.model_code) == ("high", "M-A")
    (line,) = [json.loads(r.getMessage()) for r in caplog.records]
    assert line["incident_id"] == incident.incident_id
    # Within the selector's refresh interval the model's served share falls to 0.
    clock.advance(seconds=31)
    after = Counter(
        service.select(SelectRequest(str(m), "MAIN")).body["model_code"] for m in range(600)
    )
    assert after["M-A"] == 0 and after["CTRL"] > 0 and after["M-B"] > 0
    # A second batch does not open a second incident.
    end += timedelta(hours=1)
    assert run_batch(store, exp_id, end, dropped, batch_id="B-9").actions == ()
    # The operator acknowledges and re-enables; both audited.
    acked = acknowledge_incident(store, incident.incident_id, by="ops@example.com")
    assert acked.status is IncidentStatus.ACKNOWLEDGED
    with pytest.raises(TransitionError):
        acknowledge_incident(store, incident.incident_id, by="ops@example.com")
    back = re_enable_model(store, exp_id, "M-A", expected_version=exp.version, by="ops@example.com")
    assert back.disabled_models == ()
    actions = [(e.action, e.by) for e in store.audit_history(exp_id)[-2:]]
    assert actions == [
        ("acknowledge_incident", "ops@example.com"),
        ("re_enable_model", "ops@example.com"),
    ]
    clock.advance(seconds=31)
    again = Counter(
        service.select(SelectRequest(str(m), "MAIN")).body["model_code"] for m in range(600)
    )
    assert again["M-A"] > 0


def test_malformed_logs_hold_the_batch_and_a_clean_one_resumes(store: MongoStore, running) -> None:
    exp_id = running.experiment_id
    healthy = dict.fromkeys(CODES, 0.05)
    end = T0 + timedelta(hours=1)
    run_batch(store, exp_id, end, healthy, batch_id="B-1")
    assert store.get_parameters(exp_id, CODES).batch_id == "B-1"
    # 20 % of the lines are malformed.
    events = 3 * 3000 + 3 * 150 + 3 * 15
    end += timedelta(hours=1)
    applied = run_batch(
        store,
        exp_id,
        end,
        healthy,
        batch_id="B-2",
        quality={"malformed_lines": events // 4, "events": events},
    )
    assert applied.held and [a.kind for a in applied.actions] == [ActionKind.HOLD_BATCH]
    assert store.get_parameters(exp_id, CODES).batch_id == "B-1"  # last good kept
    history = store.parameter_history(exp_id)
    assert [(b.batch_id, b.held) for b in history] == [("B-1", False), ("B-2", True)]
    (incident,) = list_incidents(store)
    assert (incident.rule, incident.severity) == ("data_quality", "warning")
    assert store.audit_history(exp_id)[-1].action == "hold_batch"
    # The next clean batch resumes learning.
    end += timedelta(hours=1)
    applied = run_batch(store, exp_id, end, healthy, batch_id="B-3", quality={"events": events})
    assert applied.actions == ()
    assert store.get_parameters(exp_id, CODES).batch_id == "B-3"


def test_the_last_alternative_collapsing_pauses_and_the_operator_resumes(
    store: MongoStore, clock: FixedClock
) -> None:
    exp = start_experiment(store, arms=arms("CTRL", "M-A"))
    end = T0
    for _ in range(3):
        end += timedelta(hours=1)
        hour = end - timedelta(hours=1)
        store.replace_hourly_metrics(
            exp.experiment_id,
            [hour],
            hour_rows(exp.experiment_id, hour, {"CTRL": 0.05, "M-A": 0.0}),
        )
    actions = evaluate(
        store.get_experiment(exp.experiment_id), store.hourly_metrics(exp.experiment_id), end=end
    )
    applied = apply_actions(store, actions, notifier=LocalNotifier())
    assert [a.kind for a in applied.actions] == [ActionKind.PAUSE]
    paused = store.get_experiment(exp.experiment_id)
    assert paused.status is Status.PAUSED  # never stopped
    entry = store.audit_history(exp.experiment_id)[-1]
    assert (entry.action, entry.by) == ("pause", "guardrail")
    assert applied.incidents[0].severity == "critical"
    resumed = store.apply_action(
        exp.experiment_id, Action.RESUME, expected_version=paused.version, by="ops@example.com"
    )
    assert resumed.status is Status.RUNNING


def test_incidents_group_by_area_then_severity(store: MongoStore, running) -> None:
    from services.guardrails.evaluate import GuardrailAction
    from services.mongo.incidents import raise_incident

    def act(area: str, kind: ActionKind, rule: Rule, model: str | None = None):
        return GuardrailAction(kind, rule, running.experiment_id, area, "x", model)

    for a in (
        act("MAIN", ActionKind.ALERT, Rule.SERVING_HEALTH),
        act("MAIN", ActionKind.PAUSE, Rule.SPLIT_INTEGRITY),
        act("DETAIL", ActionKind.HOLD_BATCH, Rule.DATA_QUALITY),
        act("MAIN", ActionKind.SWITCH_OFF, Rule.CTR_COLLAPSE, "M-A"),
    ):
        raise_incident(store, a)
    groups = group_incidents(list_incidents(store))
    assert [(area, sev, len(items)) for area, sev, items in groups] == [
        ("DETAIL", "warning", 1),
        ("MAIN", "critical", 1),
        ("MAIN", "high", 1),
        ("MAIN", "warning", 1),
    ]


def test_the_job_step_switches_off_holds_and_stores_the_served_weights(
    store: MongoStore, running
) -> None:
    from services.guardrails.apply import guard_batch

    exp_id = running.experiment_id
    end = T0
    saved = []
    for i, ctr in enumerate(
        [dict.fromkeys(CODES, 0.05)] * 4 + [{**dict.fromkeys(CODES, 0.05), "M-A": 0.01}] * 2
    ):
        end += timedelta(hours=1)
        hour = end - timedelta(hours=1)
        store.replace_hourly_metrics(exp_id, [hour], hour_rows(exp_id, hour, ctr))
        out = guard_batch(store, store.get_experiment(exp_id), batch(exp_id, end, f"B-{i}"))
        assert out is not None
        store.save_parameter_batch(out)
        saved.append(out)
    assert store.get_experiment(exp_id).disabled_models == ("M-A",)
    weights = {a.model_code: a.weight for a in saved[-1].arms}
    assert weights == pytest.approx({"CTRL": 0.5, "M-A": 0.0, "M-B": 0.5})
    assert store.get_parameters(exp_id, CODES).arms[1].weight == 0.0
    # A batch of bad data is held and not returned for saving.
    end += timedelta(hours=1)
    hour = end - timedelta(hours=1)
    store.replace_hourly_metrics(
        exp_id, [hour], hour_rows(exp_id, hour, dict.fromkeys(CODES, 0.05))
    )
    held = guard_batch(
        store,
        store.get_experiment(exp_id),
        batch(exp_id, end, "B-bad"),
        data_quality={"malformed_lines": 5000, "lines": 10000},
    )
    assert held is None
    assert store.get_parameters(exp_id, CODES).batch_id == "B-5"
    assert store.parameter_history(exp_id)[-1].held
