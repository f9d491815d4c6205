"""First-assignment member counts: the job's incremental state against an independent count.

The independent count parses the raw log lines in plain Python (no Spark, no job code): each
impression once per ``event_id``, each member's earliest impression per experiment, counted per
(model, hour, batch). The job must write exactly those counts into the hourly metrics'
``first_members_by_batch`` however its runs cut the hours -- incremental runs, a re-run, an
earlier hour processed late, a rebuild -- and with duplicated deliveries in the logs.
"""

from __future__ import annotations

import hashlib
import shutil
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from services.events import EventLogWriter
from services.mongo import schema
from services.traffic import ArmSpec, TrafficConfig, generate
from spark import members as member_state
from spark.members import STATE_SCHEMA, MemberState, changed_assignments
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
    # AND the state holds one row per member, its first assignment
    state = MemberState(spark, store.db, JobSettings(str(root), end).state)
    assert state.read(state.live()).count() == sum(incremental.values())


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


def _row(member: int, minute: int, model: str = "A", batch: str = "b1") -> tuple:
    ts = START + timedelta(minutes=minute)
    return ("E", member, ts, ts.replace(minute=0), model, batch)


def test_a_change_is_a_candidate_earlier_than_the_stored_row_or_a_new_member(spark) -> None:
    stored = spark.createDataFrame([_row(1, 70), _row(2, 10), _row(3, 5)], STATE_SCHEMA)
    candidates = spark.createDataFrame(
        [_row(1, 20), _row(2, 10), _row(3, 65), _row(4, 125), _row(5, 10, model="B")],
        STATE_SCHEMA,
    )
    changed = {
        (r["member"], r["ts"], r["superseded_hour"])
        for r in changed_assignments(candidates, stored).collect()
    }
    # m1 moves earlier (its old hour is superseded), m4 and m5 are new; m2 (a re-run) and m3
    # (later than stored) change nothing
    assert changed == {
        (1, START + timedelta(minutes=20), START + timedelta(hours=1)),
        (4, START + timedelta(minutes=125), None),
        (5, START + timedelta(minutes=10), None),
    }
    # AND a tie on time is broken by model: the stored A stays before a candidate B
    same_time = spark.createDataFrame([_row(2, 10, model="B")], STATE_SCHEMA)
    assert changed_assignments(same_time, stored).count() == 0


def test_a_run_cut_short_before_its_commit_changes_nothing(spark, store, clock, tmp_path):
    # GIVEN a processed hour
    setup_experiments(store, clock)
    root = tmp_path / "events"
    write_hours(root, START, 2, seed=11, writer="w")
    end = START + timedelta(hours=2)
    run_update(spark, store, JobSettings(str(root), end - timedelta(hours=1)))
    settings = JobSettings(str(root), end)
    state = MemberState(spark, store.db, settings.state)
    live = state.live()
    # WHEN a run writes a generation and dies before it is listed (a member of the next hour)
    stray = spark.createDataFrame([("EXP-02", 7, end, end, S1, "x")], STATE_SCHEMA)
    name = state.write(stray)
    assert (Path(member_state.members_path(settings.state)) / name).exists()
    assert state.live() == live
    # THEN the next run ignores it, removes it, and counts exactly
    run_update(spark, store, settings)
    assert not (Path(member_state.members_path(settings.state)) / name).exists()
    assert_counts_match(store, root, end)
    assert store.db[schema.JOB_STATE].find_one({"_id": "members"})["generations"] == state.live()


def test_the_first_run_after_an_upgrade_takes_the_old_collection_over(
    spark, store, clock, tmp_path
):
    # GIVEN two processed hours whose members are kept as versions before the Parquet state kept
    # them: one document per member in first_assignments, no state folder, no live list
    setup_experiments(store, clock)
    root = tmp_path / "events"
    write_hours(root, START, 3, seed=13, writer="w")
    run_update(spark, store, JobSettings(str(root), START + timedelta(hours=2)))
    settings = JobSettings(str(root), START + timedelta(hours=3))
    state = MemberState(spark, store.db, settings.state)
    docs = [
        {
            "_id": f"fa|{r['experiment_id']}|{member_state.member_hash(r['member'])}",
            "experiment_id": r["experiment_id"],
            "member": member_state.member_hash(r["member"]),
            "ts": r["ts"],
            "hour": r["hour"],
            "model_code": r["model_code"],
            "batch_id": r["batch_id"],
        }
        for r in state.read(state.live()).collect()
    ]
    store.db[member_state.LEGACY_COLLECTION].insert_many(docs)
    store.db[schema.JOB_STATE].delete_many({})
    shutil.rmtree(member_state.members_path(settings.state))
    # WHEN the next hour is processed
    run_update(spark, store, settings)
    # THEN the members of the first two hours are not counted a second time
    totals = assert_counts_match(store, root, START + timedelta(hours=3))
    assert state.read(state.live()).count() == sum(totals.values()) > len(docs)
