"""First-assignment member counts: the job's incremental state against an independent count.

The independent count parses the raw log lines in plain Python (no Spark, no job code): each
impression once per ``event_id``, each member's earliest impression per experiment, counted per
(model, hour, batch). The job must write exactly those counts into the hourly metrics'
``first_members_by_batch`` however its runs cut the hours -- incremental runs, a re-run, an
earlier hour processed late, a rebuild -- and with duplicated deliveries in the logs.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from services.events import EventLogWriter
from services.mongo import schema
from services.mongo.first_assignments import MongoFirstAssignments
from services.traffic import ArmSpec, TrafficConfig, generate
from spark.members import FirstAssignment, merge_first
from spark.update_params import JobSettings, run_update
from tests.lake import first_member_counts, lake_impressions
from tests.spark.test_job import S1, S2, START, A, B, setup_experiments

pytestmark = pytest.mark.spark

ARMS = (
    ArmSpec("EXP-01", "MAIN", A, 0.06),
    ArmSpec("EXP-01", "MAIN", B, 0.05),
    ArmSpec("EXP-02", "DETAIL", S1, 0.05, weight=2),
    ArmSpec("EXP-02", "DETAIL", S2, 0.05, weight=3),
)


def choose(member_id: str, area_code: str, ts: datetime) -> tuple:
    """A selector stand-in: DETAIL static 2:3 by member hash, MAIN drawn per request; a batch
    per hour from the second hour on (the first hour's answers name none)."""
    digest = int(hashlib.sha256(f"{area_code}|{member_id}|{ts:%M%S%f}".encode()).hexdigest(), 16)
    batch = None if ts < START + timedelta(hours=1) else f"{ts:%Y%m%dT%H}00"
    if area_code == "DETAIL":
        bucket = int(hashlib.sha256(member_id.encode()).hexdigest(), 16) % 5
        return "EXP-02", S1 if bucket < 2 else S2, batch, 0.4 if bucket < 2 else 0.6
    if area_code == "MAIN":
        return "EXP-01", A if digest % 2 else B, batch, 0.5
    return None, None


def write_hours(root: Path, start: datetime, hours: int, seed: int, writer: str) -> None:
    config = TrafficConfig(
        ARMS,
        start,
        hours=hours,
        requests_per_hour=2400,
        members=3000,
        seed=seed,
        duplicate_share=0.03,
        malformed_share=0.002,
    )
    with EventLogWriter(root, writer_id=writer) as w:
        generate(config, w, choose=choose)


def independent_counts(root: Path, end: datetime) -> dict[str, Counter[tuple]]:
    """``{experiment: {(model, hour, batch): members}}`` from the raw lines of hours < end."""
    return first_member_counts(lake_impressions(root, before=end))


def stored_counts(db, experiment_id: str) -> dict[tuple, int]:
    out = {}
    for doc in db[schema.HOURLY_METRICS].find({"experiment_id": experiment_id}):
        for batch, n in (doc.get("first_members_by_batch") or {}).items():
            if n:
                out[(doc["model_code"], doc["hour"], batch)] = n
    return out


def hour_total(db, experiment_id: str, hour: datetime) -> int:
    return sum(n for (_, h, _), n in stored_counts(db, experiment_id).items() if h == hour)


def distinct_members(root: Path, end: datetime) -> dict[str, int]:
    """Distinct member ids with an impression per experiment, straight from the lines."""
    members: dict[str, set[str]] = defaultdict(set)
    for event in lake_impressions(root, before=end):
        members[event.experiment_id].add(event.member_id)
    return {e: len(m) for e, m in members.items()}


def assert_counts_match(store, root: Path, end: datetime) -> dict[str, int]:
    truth = independent_counts(root, end)
    totals = {}
    for experiment_id in ("EXP-01", "EXP-02"):
        got = stored_counts(store.db, experiment_id)
        assert got == dict(truth[experiment_id]), experiment_id
        totals[experiment_id] = sum(got.values())
    return totals


def test_incremental_runs_count_each_member_once_as_the_raw_lines_do(spark, store, clock, tmp_path):
    # GIVEN two experiments running since START and hours 1-2 of traffic (hour 0 not yet here)
    setup_experiments(store, clock)
    root = tmp_path / "events"
    write_hours(root, START + timedelta(hours=1), 2, seed=5, writer="w1")
    settings = JobSettings(str(root), START + timedelta(hours=3))

    # WHEN the job runs, THEN every member is counted once, at its first impression
    run_update(spark, store, settings)
    first = assert_counts_match(store, root, START + timedelta(hours=3))
    assert first["EXP-01"] > 1000 and first["EXP-02"] > 1000

    # WHEN the same batch runs again, THEN nothing moves (no member counted twice)
    run_update(spark, store, settings)
    assert assert_counts_match(store, root, START + timedelta(hours=3)) == first

    # WHEN hour 0 arrives late and is processed, THEN members seen in it move earlier: hour 2's
    # counts (an hour this run does not touch) shrink, totals grow only by the new members
    hour2 = START + timedelta(hours=2)
    hour2_before = hour_total(store.db, "EXP-02", hour2)
    write_hours(root, START, 1, seed=6, writer="w2")
    run_update(spark, store, settings)
    late = assert_counts_match(store, root, START + timedelta(hours=3))
    assert late["EXP-02"] > first["EXP-02"]
    assert 0 < hour_total(store.db, "EXP-02", hour2) < hour2_before

    # WHEN a new hour comes in the next batch, THEN the counts follow it
    write_hours(root, START + timedelta(hours=3), 1, seed=7, writer="w3")
    end = START + timedelta(hours=4)
    run_update(spark, store, JobSettings(str(root), end))
    incremental = assert_counts_match(store, root, end)

    # AND a rebuild from the raw logs gives the same counts
    run_update(spark, store, JobSettings(str(root), end, rebuild_from=START))
    assert assert_counts_match(store, root, end) == incremental
    assert incremental == distinct_members(root, end) and all(incremental.values())
    assert store.db[schema.FIRST_ASSIGNMENTS].count_documents({}) == sum(incremental.values())


def test_the_static_batch_records_a_member_srm_on_the_distinct_members(
    spark, store, clock, tmp_path
):
    setup_experiments(store, clock)
    root = tmp_path / "events"
    write_hours(root, START, 3, seed=9, writer="w")
    end = START + timedelta(hours=3)
    run_update(spark, store, JobSettings(str(root), end))

    batch = store.parameter_history("EXP-02")[-1]
    members = sum(independent_counts(root, end)["EXP-02"].values())
    assert batch.srm["unit"] == "members"
    assert sum(batch.srm["observed"]) == members
    assert batch.srm["expected"] == pytest.approx([0.4 * members, 0.6 * members])
    assert batch.srm["mismatch"] is False
    # AND the draw-mode test counts draws: each member's first impression per batch and hour
    dynamic = store.parameter_history("EXP-01")[-1]
    assert dynamic.srm["unit"] == "draws"
    draws = {
        (e.member_id, e.batch_id or "unknown", e.hour)
        for e in lake_impressions(root, "EXP-01", before=end)
    }
    assert sum(dynamic.srm["observed"]) + dynamic.srm["excluded"] == len(draws)
    impressions = sum(
        d["impressions"] for d in store.db[schema.HOURLY_METRICS].find({"experiment_id": "EXP-01"})
    )
    assert len(draws) < impressions  # repeat visits under one batch count once


def _fa(member: str, minute: int, model: str = "A", batch: str = "b1") -> FirstAssignment:
    ts = START + timedelta(minutes=minute)
    return FirstAssignment("E", member, ts, ts.replace(minute=0), model, batch)


def test_merge_keeps_the_earlier_assignment_and_recounts_both_hours() -> None:
    stored = {"E|m1": _fa("m1", 70), "E|m2": _fa("m2", 10), "E|m3": _fa("m3", 5)}
    candidates = [_fa("m1", 20), _fa("m2", 10), _fa("m3", 65), _fa("m4", 130), _fa("m4", 125)]

    merge = merge_first(candidates, stored)

    assert sorted((a.member, a.ts) for a in merge.changed) == [
        ("m1", START + timedelta(minutes=20)),
        ("m4", START + timedelta(minutes=125)),
    ]
    assert merge.hours == {
        ("E", START),
        ("E", START + timedelta(hours=1)),
        ("E", START + timedelta(hours=2)),
    }
    assert merge_first([_fa("m2", 10)], stored).changed == ()


def test_inserting_members_another_writer_stored_replaces_them(store) -> None:
    # GIVEN two stored first assignments
    state = MongoFirstAssignments(store.db)
    old = [_fa(m, 30).to_doc() for m in ("m1", "m2")]
    state.save(old)
    # WHEN a run inserts them (its read missed them) with earlier times, beside a new member
    docs = [_fa(m, 5).to_doc() for m in ("m1", "m2", "m3")]
    state.insert(docs)
    # THEN nothing is lost or doubled: the three members hold the run's documents
    stored = state.get([d["_id"] for d in docs])
    assert stored == {d["_id"]: d for d in docs}
    assert state.col.count_documents({}) == 3
