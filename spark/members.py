"""First assignments: the members each experiment placed, each counted once, by batch.

A static test, and a dynamic test in sticky mode, place a *member* by a hash, so its SRM check
counts members at their first assignment (docs/statistics.md). The hourly metrics carry the
count as ``first_members_by_batch``: per experiment, model and hour, the members whose first
impression in the experiment fell in that hour with that model, by the ``batch_id`` of that
impression.

The job is incremental, so "first" needs state across runs: the ``first_assignments`` collection
keeps, per (experiment, member hash), the member's earliest impression seen so far. Each run

1. takes the earliest impression of every member in the hours it parsed (Spark, from the
   compact copies the run just wrote);
2. reads the stored first assignments of those members (by ``_id``, in bulk) and keeps the
   earlier of the two -- a re-processed hour changes nothing, an earlier hour processed late
   moves the member's first assignment earlier;
3. recounts the hours whose counts may have changed (the touched hours with data, the hours
   of the changed assignments and the hours they moved from) from the collection with the
   changes applied, and sets ``first_members_by_batch`` on those hours' documents;
4. then upserts the changed assignments by ``_id`` in bulk (last: a run cut short before it
   leaves the state as it was, and its re-run does the same work again).

Members are stored by a 64-bit hash of their id (xxHash64, computed by Spark), never the id.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.experiments import Experiment
from services.hourly_metrics import UNKNOWN_BATCH

Counts = dict[tuple[str, str, datetime], dict[str, int]]


@dataclass(frozen=True)
class FirstAssignment:
    """A member's first impression in an experiment (``member``: its id's hash, hex)."""

    experiment_id: str
    member: str
    ts: datetime
    hour: datetime
    model_code: str
    batch_id: str

    @property
    def order(self) -> tuple[datetime, str, str]:
        """Earlier first; ties (the same millisecond) broken by model, then batch."""
        return (self.ts, self.model_code, self.batch_id)

    def to_doc(self) -> dict[str, Any]:
        from services.mongo.first_assignments import assignment_id

        return {
            "_id": assignment_id(self.experiment_id, self.member),
            "experiment_id": self.experiment_id,
            "member": self.member,
            "ts": self.ts,
            "hour": self.hour,
            "model_code": self.model_code,
            "batch_id": self.batch_id,
        }

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> FirstAssignment:
        return cls(
            experiment_id=str(doc["experiment_id"]),
            member=str(doc["member"]),
            ts=_ms(doc["ts"]),
            hour=doc["hour"],
            model_code=str(doc["model_code"]),
            batch_id=str(doc.get("batch_id") or UNKNOWN_BATCH),
        )


def _ms(ts: datetime) -> datetime:
    """MongoDB keeps milliseconds: compare at that precision, or a stored time never equals the
    one Spark read again."""
    return ts.replace(microsecond=ts.microsecond // 1000 * 1000)


def member_hash(value: int) -> str:
    """Spark's signed xxhash64 as 16 hex digits."""
    return f"{value & 0xFFFFFFFFFFFFFFFF:016x}"


# --- Spark ------------------------------------------------------------------------------------


def earliest_impressions(events: Any, experiments: Iterable[str]) -> Any:
    """Per (experiment, member) of ``events``, its earliest impression.

    Columns: ``experiment_id``, ``member`` (xxhash64 of ``member_id``), ``ts``, ``hour``,
    ``model_code``, ``batch_id`` (``unknown`` when the impression named none).
    """
    from pyspark.sql import functions as F

    imps = events.filter(
        (F.col("event_type") == "impression")
        & F.col("experiment_id").isin(sorted(set(experiments)))
        & F.col("member_id").isNotNull()
        & F.col("model_code").isNotNull()
    ).select(
        "experiment_id",
        F.xxhash64("member_id").alias("member"),
        F.struct(
            "ts",
            "model_code",
            F.coalesce(F.col("batch_id"), F.lit(UNKNOWN_BATCH)).alias("batch_id"),
            "hour",
        ).alias("first"),
    )
    return (
        imps.groupBy("experiment_id", "member")
        .agg(F.min("first").alias("first"))
        .select(
            "experiment_id",
            "member",
            "first.ts",
            "first.hour",
            "first.model_code",
            "first.batch_id",
        )
    )


def collect_assignments(frame: Any) -> list[FirstAssignment]:
    """The rows of :func:`earliest_impressions` on the driver, through Arrow where Spark has it
    (4.x; columnar: about ten times faster than Row objects at 1e5 members), else as rows (3.5,
    EMR 7)."""
    cols = _columns(frame, ("experiment_id", "member", "ts", "hour", "model_code", "batch_id"))
    return [
        FirstAssignment(
            experiment_id=experiment_id,
            member=member_hash(int(member)),
            ts=_ms(ts),
            hour=hour,
            model_code=model_code,
            batch_id=batch_id,
        )
        for experiment_id, member, ts, hour, model_code, batch_id in zip(
            cols["experiment_id"],
            cols["member"],
            cols["ts"],
            cols["hour"],
            cols["model_code"],
            cols["batch_id"],
            strict=True,
        )
    ]


def _columns(frame: Any, names: tuple[str, ...]) -> dict[str, list[Any]]:
    if hasattr(frame, "toArrow"):
        table = frame.toArrow()
        return {name: table.column(name).to_pylist() for name in names}
    rows = frame.collect()
    return {name: [row[name] for row in rows] for name in names}


# --- pure merge and count -------------------------------------------------------------------


@dataclass(frozen=True)
class Merge:
    """What a run's candidates change: the assignments to write and the hours to recount."""

    changed: tuple[FirstAssignment, ...]
    hours: frozenset[tuple[str, datetime]]


def merge_first(
    candidates: Iterable[FirstAssignment], stored: Mapping[str, FirstAssignment]
) -> Merge:
    """Keep the earlier of each candidate and the stored assignment of the same member.

    ``stored`` is keyed by ``(experiment_id, member)`` joined with ``|``. A candidate equal to
    the stored assignment (a re-processed hour) changes nothing; an earlier one replaces it, and
    both its hour and the stored one's need a recount.
    """
    changed: list[FirstAssignment] = []
    hours: set[tuple[str, datetime]] = set()
    best: dict[str, FirstAssignment] = {}
    for c in candidates:
        key = f"{c.experiment_id}|{c.member}"
        if key not in best or c.order < best[key].order:
            best[key] = c
    for key, c in best.items():
        old = stored.get(key)
        if old is not None and old.order <= c.order:
            continue
        changed.append(c)
        hours.add((c.experiment_id, c.hour))
        if old is not None:
            hours.add((old.experiment_id, old.hour))
    return Merge(tuple(changed), frozenset(hours))


def count_first_members(assignments: Iterable[Mapping[str, Any]], experiment_id: str) -> Counts:
    """``{(experiment, model, hour): {batch_id: members}}`` of stored assignment documents."""
    counts: Counts = {}
    for doc in assignments:
        key = (experiment_id, str(doc["model_code"]), doc["hour"])
        per = counts.setdefault(key, {})
        batch = str(doc.get("batch_id") or UNKNOWN_BATCH)
        per[batch] = per.get(batch, 0) + 1
    return counts


# --- the job's step ---------------------------------------------------------------------------


@dataclass
class MembersReport:
    candidates: int = 0
    changed: int = 0
    hours_recounted: int = 0
    seconds: float = 0.0
    #: Where the time went: ``spark``, ``read`` (stored assignments), ``recount``, ``write``.
    steps: dict[str, float] = field(default_factory=dict)


def update_first_members(
    spark: Any,
    store: Any,
    settings: Any,
    processed: Sequence[datetime],
    hours_with_data: Sequence[datetime],
    running: Sequence[Experiment],
) -> MembersReport:
    """Fold the processed hours' impressions into the first assignments and write the counts.

    Call after the touched hours' hourly metrics are replaced (they are written without member
    counts) and before the parameters are computed from them. A store without a MongoDB
    database (``store.db``) keeps no member state: nothing is counted.
    """
    from pymongo import UpdateOne

    from services.mongo import schema
    from services.mongo.first_assignments import MongoFirstAssignments, assignment_id
    from services.mongo.repository import metric_id
    from spark import extract
    from spark.incremental import part_key, state_path

    report = MembersReport()
    db = getattr(store, "db", None)
    if db is None or not processed or not running:
        return report
    t0 = time.perf_counter()
    base = state_path(settings.state)
    copies = extract.existing_paths(spark, [f"{base}/part={part_key(h)}" for h in processed])
    ids = {e.experiment_id for e in running}
    candidates: list[FirstAssignment] = []
    if copies:
        events = spark.read.option("basePath", base).parquet(*copies)
        candidates = collect_assignments(earliest_impressions(events, ids))
    report.candidates = len(candidates)
    t1 = time.perf_counter()
    report.steps["spark"] = t1 - t0
    state = MongoFirstAssignments(db)
    found = state.get([assignment_id(c.experiment_id, c.member) for c in candidates])
    stored = {
        f"{d['experiment_id']}|{d['member']}": FirstAssignment.from_doc(d) for d in found.values()
    }
    merge = merge_first(candidates, stored)
    report.changed = len(merge.changed)
    t2 = time.perf_counter()
    report.steps["read"] = t2 - t1

    recount: dict[str, set[datetime]] = defaultdict(set)
    for experiment_id, hour in merge.hours:
        recount[experiment_id].add(hour)
    for experiment in running:
        recount[experiment.experiment_id].update(hours_with_data)
    changed: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for a in merge.changed:
        doc = a.to_doc()
        changed[a.experiment_id][doc["_id"]] = doc
    updates = []
    by_id = {e.experiment_id: e for e in running}
    for experiment_id, hours in recount.items():
        if experiment_id not in by_id or not hours:
            continue
        # The counts after the merge, computed before it is stored: a run cut short between the
        # two writes leaves the state unchanged and its re-run recounts the same hours.
        docs = {d["_id"]: d for d in state.in_hours(experiment_id, hours)}
        docs.update(changed.get(experiment_id, {}))
        counts = count_first_members(
            (d for d in docs.values() if d["hour"] in hours), experiment_id
        )
        models = set(by_id[experiment_id].model_codes) | {m for _, m, _ in counts}
        for hour in hours:
            for model in models:
                per = counts.get((experiment_id, model, hour), {})
                updates.append(
                    UpdateOne(
                        {"_id": metric_id(experiment_id, model, hour)},
                        {"$set": {"first_members_by_batch": per}},
                    )
                )
        report.hours_recounted += len(hours)
    if updates:
        db[schema.HOURLY_METRICS].bulk_write(updates, ordered=False)
    t3 = time.perf_counter()
    report.steps["recount"] = t3 - t2
    known = set(found)
    fresh = [a.to_doc() for a in merge.changed]
    state.insert([d for d in fresh if d["_id"] not in known])
    state.save(d for d in fresh if d["_id"] in known)
    report.steps["write"] = time.perf_counter() - t3
    report.seconds = time.perf_counter() - t0
    return report
