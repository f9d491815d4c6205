"""Guardrails end to end: traffic through the local gateway, the Spark job, MongoDB, the selector.

Every simulated hour, page views go over HTTP to the local API gateway (its answer cache and the
selector behind it, the same objects ``dynab run`` starts), the events are written to a lake, and
the parameter job runs in Spark local mode against the embedded MongoDB server. The clock is a
fixed clock moved by the test, so that "within the selector's refresh interval" is exact. The
true rates of a model change mid-test by editing the generator's arms.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from dynab.stack import _GatewayClient
from services.clock import FixedClock
from services.events.writer import EventLogWriter
from services.experiments import Area, Arm, Experiment, ExperimentType
from services.gateway.cache import TtlCache
from services.gateway.recorder import GatewayRecorder
from services.gateway.server import SelectorGateway
from services.guardrails.activity import guardrail_activity
from services.guardrails.apply import re_enable_model
from services.guardrails.rules import GuardrailRules
from services.lifecycle import Action
from services.mongo.embedded import free_port
from services.mongo.incidents import list_incidents
from services.mongo.repository import MongoStore
from services.serving.config_cache import ConfigurationCache
from services.serving.service import SelectorService
from services.serving.settings import ServingSettings
from services.traffic.config import ArmSpec, TrafficConfig
from services.traffic.generator import generate_hour, write_hour
from spark.update_params import JobReport, JobSettings, run_update
from tests.spark.conftest import spark  # noqa: F401  (one SparkSession for the module)

pytestmark = [pytest.mark.slow, pytest.mark.spark]

START = datetime(2026, 11, 28, 0)
REFRESH_SECONDS = 60.0
CONTROL, ALT, BROKEN = "CTL-01", "ALT-01", "BRK-01"


def three_arm_experiment(**changes: object) -> Experiment:
    base = Experiment(
        experiment_id="EXP-G",
        name="Guardrails end to end",
        area_code="MAIN",
        type=ExperimentType.DYNAMIC,
        arms=(Arm(CONTROL, "control", 1.0, control=True), Arm(ALT, "alt", 1.0), Arm(BROKEN, "b")),
        warmup_hours=1,
        warmup_min_impressions=200,
        exposure_floor=0.1,
    )
    return base.with_changes(**changes)


@dataclass
class GuardedStack:
    """MongoDB + the local gateway and selector + the Spark job, on a clock the test moves."""

    store: MongoStore
    clock: FixedClock
    spark: object
    lake: Path
    rates: dict[str, tuple[float, float]]
    requests_per_hour: int = 3600
    malformed_share: float = 0.0
    served: list[tuple[datetime, str, str]] = field(default_factory=list)
    reports: list[JobReport] = field(default_factory=list)

    def start(self, experiment: Experiment) -> GuardedStack:
        self.clock.current = START
        self.store.save_area(Area("MAIN", CONTROL, "Main page"))
        created = self.store.create_experiment(experiment, by="test")
        self.experiment_id = created.experiment_id
        self.store.apply_action(created.experiment_id, Action.START, expected_version=1, by="test")
        self.recorder = GatewayRecorder(self.store.db, self.clock).start()
        cache = ConfigurationCache(self.store, self.clock, refresh_seconds=REFRESH_SECONDS)
        service = SelectorService(
            cache,
            self.clock,
            self.recorder,
            ServingSettings(refresh_seconds=REFRESH_SECONDS),
            rng=np.random.default_rng(3),
        )
        responses = TtlCache(self.clock, ttl_seconds=60)
        self.gateway = SelectorGateway(
            ("127.0.0.1", free_port()), service, responses, self.recorder
        )
        self.gateway.start_background()
        self.client = _GatewayClient(self.gateway.server_address[1])
        self.writer = EventLogWriter(self.lake)
        return self

    def stop(self) -> None:
        self.client.close()
        self.gateway.shutdown()
        self.gateway.server_close()
        self.recorder.stop()

    def select(self, member_id: str) -> dict:
        answer = self.client.select(member_id, "MAIN")
        self.served.append((self.clock.now(), answer["model_code"], answer["reason"]))
        return answer

    def hour(self, index: int) -> JobReport:
        """One simulated hour of page views through the gateway, then the batch ending after it."""
        experiment = self.store.get_experiment(self.experiment_id)
        config = TrafficConfig(
            arms=tuple(
                ArmSpec(self.experiment_id, "MAIN", code, *self.rates[code])
                for code in experiment.model_codes
            ),
            start=START,
            hours=index + 1,
            requests_per_hour=self.requests_per_hour,
            members=20_000,
            seed=7,
            duplicate_share=0.002,
            orphan_click_share=0.002,
            malformed_share=self.malformed_share,
        )

        def choose(member_id: str, area_code: str, ts: datetime):
            self.clock.current = ts
            answer = self.select(member_id)
            return (
                answer.get("experiment_id"),
                answer.get("model_code"),
                answer.get("batch_id"),
                answer.get("propensity"),
            )

        write_hour(generate_hour(config, index, choose), self.writer)
        self.writer.flush()
        end = START + timedelta(hours=index + 1)
        self.clock.current = end + timedelta(minutes=5)
        report = run_update(self.spark, self.store, JobSettings(str(self.lake), end))
        self.reports.append(report)
        return report

    def served_share(self, model: str, since: datetime, until: datetime) -> float:
        picks = [m for t, m, _ in self.served if since <= t < until]
        return Counter(picks)[model] / len(picks)


@pytest.fixture
def guarded(store, clock, spark, tmp_path):  # noqa: F811
    rates = {CONTROL: (0.05, 0.004), ALT: (0.05, 0.004), BROKEN: (0.05, 0.004)}
    stack = GuardedStack(store, clock, spark, tmp_path / "lake", rates)
    yield stack
    stack.stop()


def incident_lines(caplog: pytest.LogCaptureFixture) -> list[dict]:
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == "dynab.incidents"]


def test_a_model_whose_ctr_collapses_is_switched_off_then_re_enabled(guarded, caplog):
    caplog.set_level(logging.WARNING, logger="dynab.incidents")
    stack = guarded.start(three_arm_experiment())
    store = stack.store
    # GIVEN three equal models for two hours (warm-up, then the bandit)
    for index in range(2):
        report = stack.hour(index)
        assert report.current == ["EXP-G"] and not report.held
    assert store.get_experiment("EXP-G").disabled_models == ()

    # WHEN one model's true CTR drops to 1 % from hour 2 on
    stack.rates[BROKEN] = (0.01, 0.0008)
    drop = START + timedelta(hours=2)
    switched_at = None
    for index in (2, 3):
        stack.hour(index)
        if BROKEN in store.get_experiment("EXP-G").disabled_models:
            switched_at = START + timedelta(hours=index + 1)
            break

    # THEN it is switched off within 2 batches of the drop, by the CTR guard, audited
    assert switched_at is not None and switched_at - drop <= timedelta(hours=2)
    experiment = store.get_experiment("EXP-G")
    assert experiment.status.value == "running"
    entry = next(a for a in store.audit_history("EXP-G") if a.action == "switch_off_model")
    assert entry.by == "guardrail"
    assert entry.details["rule"] == "ctr_collapse" and entry.details["model_code"] == BROKEN
    figures = entry.details["figures"]
    assert figures["model_ctr"] < 0.7 * figures["control_ctr"]
    assert figures["probability"] >= 0.99
    # AND an open incident and one notification (the local notifier's JSON line)
    (incident,) = list_incidents(store, experiment_id="EXP-G")
    assert (incident.rule, incident.action, incident.model_code) == (
        "ctr_collapse",
        "switch_off",
        BROKEN,
    )
    assert incident.severity == "high"
    assert [(n["incident_id"], n["rule"]) for n in incident_lines(caplog)] == [
        (incident.incident_id, "ctr_collapse")
    ]
    # AND the stored batch serves it with weight 0
    weights = {a.model_code: a.weight for a in store.parameter_history("EXP-G")[-1].arms}
    assert weights[BROKEN] == 0.0 and weights[CONTROL] + weights[ALT] == pytest.approx(1.0)

    # AND the selector stops serving it within its refresh interval
    refreshed = switched_at + timedelta(minutes=5, seconds=REFRESH_SECONDS)
    stack.clock.current = refreshed
    for i in range(600):
        stack.clock.current = refreshed + timedelta(seconds=i)
        stack.select(f"N{i:05d}")
    assert stack.served_share(BROKEN, refreshed, refreshed + timedelta(hours=1)) == 0.0

    # WHEN an operator re-enables it (the Overview's button calls this)
    re_enable_model(
        store, "EXP-G", BROKEN, expected_version=experiment.version, by="operator@example.com"
    )
    # THEN it is served again after the next refresh, and the re-enable is audited
    later = refreshed + timedelta(seconds=600 + REFRESH_SECONDS + 1)
    for i in range(900):
        stack.clock.current = later + timedelta(seconds=i)
        stack.select(f"R{i:05d}")
    assert stack.served_share(BROKEN, later, later + timedelta(hours=1)) > 0.02
    last = store.audit_history("EXP-G")[-1]
    assert (last.action, last.by) == ("re_enable_model", "operator@example.com")
    assert store.get_experiment("EXP-G").disabled_models == ()


def test_the_orders_guard_switches_off_the_click_winner_whose_orders_fall(guarded):
    rules = GuardrailRules(orders_window_hours=3, orders_min_impressions=2000)
    # A floor of 30 % keeps the control's traffic up while the bandit favours the click winner.
    stack = guarded.start(three_arm_experiment(guardrails=rules, exposure_floor=0.3))
    store = stack.store
    for code in (CONTROL, BROKEN):
        stack.rates[code] = (0.05, 0.006)
    # GIVEN a model that wins on clicks (7 % against 5 %) and orders as well as the others
    stack.rates[ALT] = (0.07, 0.006)
    for index in range(2):
        stack.hour(index)
    assert store.get_experiment("EXP-G").disabled_models == ()
    # WHEN its orders fall to an eighth while its clicks stay ahead
    stack.rates[ALT] = (0.07, 0.00075)
    for index in range(2, 6):
        stack.hour(index)
        if store.get_experiment("EXP-G").disabled_models:
            break
    # THEN the orders guard switches it off, though it leads on clicks
    assert store.get_experiment("EXP-G").disabled_models == (ALT,)
    (entry,) = [a for a in store.audit_history("EXP-G") if a.by == "guardrail"]
    assert entry.details["rule"] == "orders_guard" and entry.details["model_code"] == ALT
    figures = entry.details["figures"]
    assert figures["model_order_rate"] < 0.8 * figures["control_order_rate"]
    window = store.hourly_metrics("EXP-G")
    clicks = Counter()
    impressions = Counter()
    for row in window:
        clicks[row.model_code] += row.clicks
        impressions[row.model_code] += row.impressions
    assert clicks[ALT] / impressions[ALT] > clicks[CONTROL] / impressions[CONTROL]
    (incident,) = list_incidents(store, experiment_id="EXP-G")
    assert (incident.rule, incident.model_code) == ("orders_guard", ALT)


def test_a_batch_of_malformed_logs_is_held_and_the_next_clean_one_resumes(guarded):
    stack = guarded.start(three_arm_experiment())
    store = stack.store
    for index in range(2):
        stack.hour(index)
    good = store.parameter_history("EXP-G")[-1]
    # WHEN a fifth of the next hour's lines are unreadable
    stack.malformed_share = 0.25  # extra lines: 0.25 / 1.25 = 20 % of the lines written
    report = stack.hour(2)
    # THEN the batch is held: recorded with held, the parameters in force stay the last good ones
    assert report.held == ["EXP-G"] and report.current == []
    assert report.malformed_lines / (report.malformed_lines + report.events) == pytest.approx(
        0.2, abs=0.02
    )
    held = store.parameter_history("EXP-G")[-1]
    assert held.held and held.batch_id == "20261128T0300"
    in_force = store.get_parameters("EXP-G", [CONTROL, ALT, BROKEN])
    assert in_force.batch_id == good.batch_id
    (incident,) = list_incidents(store, experiment_id="EXP-G")
    assert (incident.rule, incident.action, incident.severity) == (
        "data_quality",
        "hold_batch",
        "warning",
    )
    assert incident.figures["malformed_rate"] > 0.05
    assert store.audit_history("EXP-G")[-1].action == "hold_batch"
    # WHEN the next hour is clean
    stack.malformed_share = 0.0
    report = stack.hour(3)
    # THEN learning resumes from it
    assert report.current == ["EXP-G"] and not report.held
    latest = store.parameter_history("EXP-G")[-1]
    assert not latest.held and latest.batch_id == "20261128T0400"
    assert store.get_parameters("EXP-G", [CONTROL, ALT, BROKEN]).batch_id == latest.batch_id
    assert sum(a.alpha + a.beta for a in latest.arms) > sum(a.alpha + a.beta for a in good.arms)


def test_honest_traffic_raises_no_guardrail_action_and_no_warning(guarded):
    # Demo-like traffic: equal models, the generator's duplicates, orphans, malformed lines.
    stack = guarded.start(three_arm_experiment())
    stack.malformed_share = 0.001
    for index in range(4):
        stack.hour(index)
    activity = guardrail_activity(stack.store, ["EXP-G"])
    assert activity.batches == 4
    assert activity.quiet, activity.describe()
    # The batches did carry the figures the rules judge (volume beside the counts).
    latest = stack.store.parameter_history("EXP-G")[-1]
    assert latest.data_quality["events"] > 0 and latest.data_quality["duplicate_events"] > 0
