"""A demo day on the embedded stack: the job's SRM check stays quiet, and catches a real skew.

The whole stack runs headless -- the embedded MongoDB, the local gateway with its answer cache,
demo traffic through it, the parameter job after every simulated hour -- for a simulated day that
starts at half past the hour. The job's stored SRM (each parameter batch's ``srm``) counts the
assignment unit: members at their first assignment for the static DETAIL test (EXP-02),
impressions per batch for the draw-mode MAIN test (EXP-01). Neither raises an alarm in any batch.

Beside them, a third test (static 5:5 on CART) is skewed on purpose: the page views of a tenth
of one model's members never render (a hook in the demo traffic drops them, as a broken model
endpoint would), a 10 % member imbalance. Its batches raise the alarm.

EXP-01 starts at hh:30 with three hours of warm-up: the selector serves the warm-up split until
the first batch after warm-up (never by its own clock inside a batch), as its log lines show.
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest
from pymongo.database import Database
from pyspark.sql import functions as F

import dynab.stack
from dynab.stack import CLOCK_DOC, RUNTIME, Stack, StackOptions
from services.experiments import Arm, Experiment, ExperimentType
from services.gateway import schema as gateway_schema
from services.guardrails.activity import guardrail_activity
from services.guardrails.evaluate import Rule
from services.mongo.embedded import EmbeddedMongo
from services.mongo.repository import MongoStore, connect
from spark.session import local_session
from tests.lake import first_member_counts, lake_impressions

# The job runs 25 batches: on two cores shared with other work that takes several minutes.
pytestmark = [pytest.mark.slow, pytest.mark.spark, pytest.mark.timeout(1500)]

#: The simulated day starts at half past an hour.
SIM_START = datetime(2026, 11, 28, 9, 30)
SPEED = 720.0  # simulated seconds per real second: an hour every 5 s
#: Batches of the job, one per simulated hour: 10:00 (the half hour from 09:30) to 10:00 the
#: next day.
BATCHES = 25
SKEWED = "CART-NEW-01"
SKEW = Experiment(
    experiment_id="EXP-03",
    name="Cart: skewed on purpose",
    area_code="CART",
    type=ExperimentType.STATIC,
    arms=(Arm("CART-POP-01", "popular", 5, control=True), Arm(SKEWED, "new", 5)),
)


def _lost(member_id: str) -> bool:
    """A fixed tenth of the members (by a hash independent of the selector's)."""
    return int(hashlib.sha256(member_id.encode()).hexdigest(), 16) % 10 == 0


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory):
    data_dir = tmp_path_factory.mktemp("demo-day")
    mongo = EmbeddedMongo(data_dir=data_dir / "mongo").start()
    try:
        db = connect(mongo.uri)
        # The demo clock resumes from the saved simulated time: start the day at 09:30.
        db[RUNTIME].insert_one({"_id": CLOCK_DOC, "sim_now": SIM_START})
        _run_day(data_dir, mongo.uri)
        yield db, data_dir / "lake"
        db.client.close()
    finally:
        mongo.stop()


def _run_day(data_dir: Path, uri: str) -> None:
    original = dynab.stack._GatewayClient.select

    def select(self, member_id: str, area_code: str) -> dict:
        answer = original(self, member_id, area_code)
        if answer.get("model_code") == SKEWED and _lost(member_id):
            return {"status": 503}  # the page never rendered: no impression is logged
        return answer

    options = StackOptions(
        data_dir=data_dir,
        mongodb_uri=uri,
        speed=SPEED,
        requests_per_hour=2400,
        seed=5,
        console=False,
    )
    # Spark first: the stack reuses the live session, so the demo clock (which starts with the
    # stack) does not run through the JVM's start and first jobs without traffic.
    spark = local_session("local[2]", shuffle_partitions=4, driver_memory="1g")
    spark.range(10_000).groupBy((F.col("id") % 7).alias("k")).count().collect()
    stack = Stack(options)
    dynab.stack._GatewayClient.select = select  # type: ignore[method-assign]
    try:
        stack.start()
        assert stack.store is not None
        created = stack.store.create_experiment(SKEW, by="test")
        stack.store.apply_action("EXP-03", "start", expected_version=created.version, by="test")
        started = time.monotonic()
        stack.wait_for(batches=BATCHES, timeout=1200)  # generous: the job is slow on shared cores
        print(
            f"{stack.hours_done} simulated hours, {stack.batches_done} batches, "
            f"{stack.requests_sent:,} requests in {time.monotonic() - started:.0f} s"
        )
    finally:
        stack.stop()
        dynab.stack._GatewayClient.select = original  # type: ignore[method-assign]
    assert stack.batches_done >= BATCHES, (stack.hours_done, stack.batches_done, stack.errors)


def _batches(db: Database, experiment_id: str) -> list[dict]:
    return list(db["parameter_batches"].find({"experiment_id": experiment_id}).sort("window_end"))


def test_no_srm_alarm_on_the_demo_experiments_in_any_batch(day) -> None:
    db, _ = day
    for experiment_id, unit in (("EXP-01", "draws"), ("EXP-02", "members")):
        batches = _batches(db, experiment_id)
        assert len(batches) >= BATCHES
        p_values = [b["srm"]["p_value"] for b in batches]
        print(experiment_id, unit, "p-values per batch:", " ".join(f"{p:.3g}" for p in p_values))
        assert {b["srm"]["unit"] for b in batches} == {unit}
        assert not [b["batch_id"] for b in batches if b["srm"]["mismatch"]], p_values
        last = batches[-1]["srm"]
        assert sum(last["observed"]) > 3000 and last["excluded"] == 0, last


def test_the_honest_demo_day_raises_no_guardrail_action_incident_or_warning(day) -> None:
    db, _ = day
    activity = guardrail_activity(MongoStore(db), ["EXP-01", "EXP-02"])
    assert activity.batches >= 2 * BATCHES
    assert activity.quiet, activity.describe()


def test_the_skewed_test_is_paused_by_split_integrity_and_never_stopped(day) -> None:
    db, _ = day
    store = MongoStore(db)
    actions = [a for a in store.audit_history("EXP-03") if a.by == "guardrail"]
    assert actions, "three mismatching batches in a row pause the test"
    assert {a.details.get("rule") for a in actions} == {Rule.SPLIT_INTEGRITY.value}, actions
    assert store.get_experiment("EXP-03").status.value == "paused"


def test_a_ten_percent_member_skew_raises_the_alarm(day) -> None:
    db, _ = day
    batches = _batches(db, "EXP-03")
    flagged = [b["batch_id"] for b in batches if b["srm"]["mismatch"]]
    last = batches[-1]["srm"]
    print("EXP-03 skewed: flagged batches", flagged, "last", last["observed"], last["p_value"])
    assert last["unit"] == "members" and last["mismatch"], last
    pop, new = last["observed"]
    assert 0.85 < new / pop < 0.95  # the tenth of the skewed model's members that never came


def test_the_warm_up_split_holds_until_the_first_batch_after_warm_up(day) -> None:
    db, _ = day
    batches = {b["batch_id"]: b["warmup"] for b in _batches(db, "EXP-01")}
    # Started 09:30 with 3 h of warm-up: the 12:00 batch (live from about 12:00 to 13:00, across
    # 12:30) is still warm-up, the 13:00 one is the first with bandit weights.
    assert batches["20261128T1200"] is True and batches["20261128T1300"] is False
    reasons: dict[str | None, set[str]] = {}
    for log in db[gateway_schema.SELECTOR_LOGS].find(
        {"experiment_id": "EXP-01"}, {"batch_id": 1, "reason": 1}
    ):
        reasons.setdefault(log.get("batch_id"), set()).add(log["reason"])
    assert reasons
    for batch_id, seen in reasons.items():
        warm_up = batch_id is None or batches.get(batch_id, True)
        assert seen == ({"warmup"} if warm_up else {"bts"}), (batch_id, seen)
    assert any(not batches.get(b, True) for b in reasons if b is not None)


def test_the_job_counts_each_member_once_as_the_raw_lines_do(day) -> None:
    # The job's first-assignment counts against an independent count of the lake's lines
    db, lake = day
    end = _batches(db, "EXP-02")[-1]["window_end"]
    counts = first_member_counts(lake_impressions(lake, "EXP-02"))["EXP-02"]
    expected = Counter(
        {key: n for key, n in counts.items() if key[1] < end}
    )  # (model, hour, batch)
    counted: Counter[tuple] = Counter()
    for doc in db["hourly_metrics"].find({"experiment_id": "EXP-02", "hour": {"$lt": end}}):
        for batch, n in (doc.get("first_members_by_batch") or {}).items():
            if n:
                counted[(doc["model_code"], doc["hour"], batch)] += n
    print(f"EXP-02 members: job {sum(counted.values()):,}, raw lines {sum(expected.values()):,}")
    assert sum(expected.values()) > 5000
    assert counted == expected
