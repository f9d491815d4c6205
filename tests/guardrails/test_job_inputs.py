"""What the job hands the guardrails: volume beside the data-quality counts, serving figures.

The serving-health test writes the local gateway's own counters and selector log lines through
its recorder into the embedded MongoDB, reads them back with the operations source the console
uses, and checks that the guardrail only alerts (a warning incident, nothing switched off).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from services.algorithms.base import Selection
from services.experiments import Status
from services.gateway.recorder import GatewayRecorder
from services.guardrails.apply import guard_batch
from services.guardrails.evaluate import ServingHealth
from services.guardrails.inputs import serving_health, with_volume
from services.guardrails.notify import LocalNotifier
from services.hourly_metrics import HourlyMetric
from services.mongo.incidents import list_incidents
from services.ops.figures import ApiPeriod, ModelCount
from services.parameters import BatchArm, ParameterBatch
from services.serving.observability import selection_record
from spark.update_params import JobSettings, _serving_health
from tests.serving.conftest import start_experiment

HOUR = datetime(2026, 11, 28, 8)


def test_volume_sits_beside_the_counts_relative_to_the_right_base() -> None:
    rows = [
        HourlyMetric("EXP-01", "A", HOUR, 1000, 50, 4),
        HourlyMetric("EXP-01", "B", HOUR, 500, 20, 1),
        HourlyMetric("EXP-99", "Z", HOUR, 9999, 999, 99),  # another experiment's rows
    ]
    records = [{"hour": HOUR, "events": 12_000, "malformed_lines": 30}]
    out = with_volume({"duplicate_events": 7, "malformed_lines": 30}, records, rows, "EXP-01")
    assert out == {
        "duplicate_events": 7,
        "malformed_lines": 30,
        "lines": 12_000,
        "events": 1000 + 50 + 4 + 500 + 20 + 1,
        "clicks": 70,
    }


def test_serving_health_counts_requests_fallbacks_and_5xx() -> None:
    periods = [ApiPeriod(HOUR, requests=900, errors_5xx=4), ApiPeriod(HOUR, requests=100)]
    counts = [
        ModelCount(HOUR, "EXP-01", "A", "bts", 300),
        ModelCount(HOUR, "EXP-01", "MAIN-DEFAULT", "fallback", 25),
        ModelCount(HOUR, None, "MAIN-DEFAULT", "fallback", 5),
    ]
    assert serving_health(periods, counts) == ServingHealth(1000, 30, 4)
    # Without the API's counters (a source that has none), the selector's lines are the requests.
    assert serving_health([], counts) == ServingHealth(330, 30, 0)
    assert serving_health([], []) is None


def _batch(exp_id: str, codes, end: datetime) -> ParameterBatch:
    return ParameterBatch(
        experiment_id=exp_id,
        batch_id=f"{end:%Y%m%dT%H%M}",
        window_start=end - timedelta(hours=24),
        window_end=end,
        arms=tuple(BatchArm(c, 10, 990, 0.5, 0.5) for c in codes),
        warmup=False,
    )


def test_fallbacks_from_the_gateway_figures_raise_a_warning_and_nothing_else(store, clock):
    exp = start_experiment(store)
    recorder = GatewayRecorder(store.db, clock)
    # GIVEN an hour in which 12 % of the selector's answers were fallbacks, 2 % were 5xx
    for i in range(500):
        clock.current = HOUR + timedelta(seconds=7 * i)
        status = 503 if i % 50 == 0 else 200
        recorder.record_request(status, cache_hit=False, latency_ms=3.0)
        if status == 200:
            reason = "fallback" if i % 8 == 0 else "bts"
            model = "EXP-01-APS002-01" if reason == "fallback" else exp.model_codes[i % 2]
            recorder.selection(
                selection_record(
                    at=clock.current,
                    area_code="MAIN",
                    experiment_id=exp.experiment_id,
                    selection=Selection(model, reason, propensity=1.0),
                    member=f"m{i}",
                )
            )
    assert recorder.flush()
    end = HOUR + timedelta(hours=1)
    clock.current = end + timedelta(minutes=5)

    # WHEN the job reads the figures of the batch's hour and judges the batch
    figures = _serving_health(store, JobSettings("/unused", end), lambda _m: None)
    assert figures == ServingHealth(
        requests=500, fallbacks=sum(1 for i in range(500) if i % 50 and i % 8 == 0), errors_5xx=10
    )
    saved = guard_batch(
        store,
        exp,
        _batch(exp.experiment_id, exp.model_codes, end),
        serving=figures,
        notifier=LocalNotifier(),
    )

    # THEN the batch is saved as it was, the experiment keeps running, and one warning is open
    assert saved is not None
    after = store.get_experiment(exp.experiment_id)
    assert after.status is Status.RUNNING and after.disabled_models == ()
    incidents = list_incidents(store, experiment_id=exp.experiment_id)
    (incident,) = incidents
    assert (incident.rule, incident.action, incident.severity) == (
        "serving_health",
        "alert",
        "warning",
    )
    assert incident.figures["fallback_share"] == pytest.approx(figures.fallbacks / 500)
    assert incident.figures["5xx_share"] == pytest.approx(10 / 500)
    assert "fallback share" in incident.message and "5xx share" in incident.message
    audit = store.audit_history(exp.experiment_id)[-1]
    assert (audit.action, audit.by) == ("alert", "guardrail")


def test_an_unreadable_ops_source_skips_the_rule_and_says_why(store, monkeypatch) -> None:
    monkeypatch.setenv("DYNAB_OPS_SOURCE", "nonsense")
    said: list[str] = []
    assert _serving_health(store, JobSettings("/unused", HOUR), said.append) is None
    assert said and "DYNAB_OPS_SOURCE" in said[0]


@pytest.mark.parametrize("flag", ["guardrails", "serving_health"])
def test_the_job_settings_can_turn_the_guardrails_off(flag: str) -> None:
    settings = JobSettings("/lake", HOUR, **{flag: False})
    assert getattr(settings, flag) is False


def test_the_command_line_turns_the_guardrails_off() -> None:
    import argparse

    from spark.update_params import add_arguments, settings_from_args

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    on = settings_from_args(parser.parse_args(["--input", "/lake"]), HOUR)
    off = settings_from_args(parser.parse_args(["--input", "/lake", "--no-guardrails"]), HOUR)
    assert (on.guardrails, off.guardrails) == (True, False)
