"""First assignments: the members each experiment placed, each counted once, by batch.

A static test, and a dynamic test in sticky mode, place a *member* by a hash, so its SRM check
counts members at their first assignment (docs/statistics.md). The hourly metrics carry the
count as ``first_members_by_batch``: per experiment, model and hour, the members whose first
impression in the experiment fell in that hour with that model, by the ``batch_id`` of that
impression.

The job is incremental, so "first" needs state across runs. It is Parquet beside the compact
copies, ``STATE/members/gen=<token>/``, rows ``experiment_id``, ``member`` (xxHash64 of the member
id, computed by Spark; never the id), ``ts``, ``hour``, ``model_code``, ``batch_id``: one row per
(experiment, member) across the live generations, its first assignment so far.

Which generations are live is one MongoDB document (``job_state``, ``_id`` ``members``). A run
writes its change as a new generation folder and then updates that document: the change becomes
visible in one single-document write, atomic on MongoDB. Nothing is renamed (on S3 a rename is a
copy and a delete, and a run killed halfway would leave half a folder). A folder no live list
names (a run cut short, a generation compacted away) is removed by the next run. Each run

1. takes the earliest impression of every member in the hours it parsed and joins it with the
   member's stored row: a member with no row, or whose row is later, has *changed* -- a
   re-processed hour changes nothing, an earlier hour processed late moves the member earlier;
2. writes the changed rows as a new generation. If some moved earlier (their old rows are
   superseded), or more than ``COMPACT_AFTER`` generations are live, it writes the whole state
   as one generation instead (the old rows dropped): rare, and it keeps one row per member;
3. counts the members of the hours whose counts may have changed (the touched hours with data,
   the hours of the changed rows and of the rows they superseded) from the new state: a group-by
   of the rows in those hours;
4. lists the new generation as live. A run killed before that leaves the state as it was, and
   its re-run does the same work again; one killed after it finds nothing to change and counts
   the same figures.

A batch's cost is the hours it parsed plus a read of the member column of the experiment's state
(its distinct members since it started), never the evaluation window.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from services.experiments import Experiment
from services.hourly_metrics import UNKNOWN_BATCH

Counts = dict[tuple[str, str, datetime], dict[str, int]]

#: The state's columns, in order.
STATE_SCHEMA = (
    "experiment_id string, member long, ts timestamp_ntz, hour timestamp_ntz, "
    "model_code string, batch_id string"
)
STATE_COLUMNS = ("experiment_id", "member", "ts", "hour", "model_code", "batch_id")
#: Live generations beyond which a run writes the state as one.
COMPACT_AFTER = 24
GENERATION = "gen="
#: The ``job_state`` document that lists the live generations.
MANIFEST_ID = "members"
#: Where versions before the Parquet state kept it (read once, on the first run after them).
LEGACY_COLLECTION = "first_assignments"


def member_hash(value: int) -> str:
    """Spark's signed xxhash64 as 16 hex digits."""
    return f"{value & 0xFFFFFFFFFFFFFFFF:016x}"


def members_path(state_root: str) -> str:
    return f"{state_root}/members"


# --- Spark: pure frame functions ---------------------------------------------------------------


def impression_views(events: Any) -> Any:
    """``transform.member_views`` of the impressions in ``events``, every row ``fresh``: what
    the job's transform step hands to ``update_first_members``, for events read on their own."""
    from pyspark.sql import functions as F

    from spark import transform

    imps = events.filter(F.col("event_type") == "impression").withColumn("fresh", F.lit(True))
    keys = imps.select("experiment_id", "model_code", "batch_id").distinct().collect()
    return transform.member_views(imps, transform.ViewKeys.of(keys), by=("fresh",))


def earliest_impressions(views: Any, experiments: Iterable[str]) -> Any:
    """Per (experiment, member) of the ``fresh`` rows of ``views`` (``transform.member_views``
    with a ``fresh`` column), its earliest impression.

    Columns: ``experiment_id``, ``member`` (xxhash64 of ``member_id``), ``ts``, ``hour``,
    ``model_code``, ``batch_id`` (``unknown`` when the impression named none).
    """
    from pyspark.sql import functions as F

    from spark import transform

    numbers = views.keys.experiment_numbers(sorted(set(experiments)))
    wanted = F.col("fresh") & F.col("experiment").isin(numbers)
    return transform.earliest_of(views.filter(wanted)).select(*STATE_COLUMNS)


def _order(prefix: str = "") -> Any:
    from pyspark.sql import functions as F

    # The same field names on both sides: Spark 3.5 compares structs only of identical types.
    return F.struct(
        F.col(f"{prefix}ts").alias("ts"),
        F.col(f"{prefix}model_code").alias("model_code"),
        F.col(f"{prefix}batch_id").alias("batch_id"),
    )


def changed_assignments(candidates: Any, state: Any) -> Any:
    """The candidates earlier than their member's stored row (or with none), with the stored
    row's hour as ``superseded_hour`` (null for a new member). ``state`` holds at most one row
    per (experiment, member)."""
    from pyspark.sql import functions as F

    stored = state.select(
        "experiment_id",
        "member",
        *[F.col(c).alias(f"s_{c}") for c in ("ts", "hour", "model_code", "batch_id")],
    )
    joined = candidates.join(stored, ["experiment_id", "member"], "left")
    return joined.filter(F.col("s_ts").isNull() | (_order() < _order("s_"))).select(
        *STATE_COLUMNS, F.col("s_hour").alias("superseded_hour")
    )


def first_member_counts(state: Any, hours: Sequence[tuple[str, datetime]]) -> Any:
    """Per experiment, model, hour and batch: the state's rows in ``hours`` ((experiment, hour)
    pairs), column ``members``."""
    from functools import reduce

    from pyspark.sql import functions as F

    from spark.transform import _ntz

    by_experiment: dict[str, list[datetime]] = {}
    for experiment_id, hour in hours:
        by_experiment.setdefault(experiment_id, []).append(hour)
    wanted = reduce(
        lambda a, b: a | b,
        [
            (F.col("experiment_id") == e) & F.col("hour").isin([_ntz(h) for h in sorted(hs)])
            for e, hs in by_experiment.items()
        ],
    )
    return (
        state.filter(wanted)
        .groupBy("experiment_id", "model_code", "hour", "batch_id")
        .agg(F.count(F.lit(1)).cast("long").alias("members"))
    )


# --- the state on a Hadoop file system and its list in MongoDB --------------------------------


def _token() -> str:
    # Sortable by time, unique across runs.
    return f"{GENERATION}{time.time_ns():020d}-{uuid.uuid4().hex[:8]}"


class MemberState:
    """The live generations of ``STATE/members``: read, extended, replaced, cleaned."""

    def __init__(self, spark: Any, db: Any, state_root: str) -> None:
        from services.mongo import schema

        self.spark = spark
        self.base = members_path(state_root)
        self.col = db[schema.JOB_STATE]

    def live(self) -> list[str]:
        doc = self.col.find_one({"_id": MANIFEST_ID}) or {}
        return [str(g) for g in doc.get("generations", [])]

    def listed(self) -> bool:
        """Whether a live list was ever written (an empty state has none)."""
        return self.col.find_one({"_id": MANIFEST_ID}, {"_id": 1}) is not None

    def read(self, generations: Sequence[str]) -> Any:
        from spark import extract

        paths = extract.existing_paths(self.spark, [f"{self.base}/{g}" for g in generations])
        if not paths:
            return self.spark.createDataFrame([], STATE_SCHEMA)
        return self.spark.read.schema(STATE_SCHEMA).parquet(*paths)

    def write(self, frame: Any) -> str:
        """Write ``frame`` as a new generation folder (not live yet); its name."""
        name = _token()
        frame.select(*STATE_COLUMNS).write.mode("overwrite").parquet(f"{self.base}/{name}")
        return name

    def commit(self, generations: Sequence[str]) -> None:
        """Make ``generations`` the live list: one single-document write."""
        from services.clock import utc_now

        self.col.replace_one(
            {"_id": MANIFEST_ID},
            {"_id": MANIFEST_ID, "generations": list(generations), "updated_at": utc_now()},
            upsert=True,
        )

    def clean(self, live: Sequence[str]) -> int:
        """Remove the generation folders ``live`` does not name (a run cut short, a compacted
        generation). Only the job, under its lease, calls this."""
        from spark import extract

        keep = set(live)
        gone = [n for n in extract.child_names(self.spark, self.base) if n not in keep]
        for name in gone:
            extract.delete_path(self.spark, f"{self.base}/{name}")
        return len(gone)


def from_legacy_collection(spark: Any, db: Any, members: MemberState) -> list[str]:
    """The first run after an upgrade: the ``first_assignments`` collection earlier versions kept
    (one document per member, ``member`` as 16 hex digits) written as a generation, so that no
    member is counted a second time. Returns the generation (not live yet), or none."""
    col = db[LEGACY_COLLECTION]
    if col.estimated_document_count() == 0:
        return []
    fields = {"experiment_id": 1, "member": 1, "ts": 1, "hour": 1, "model_code": 1, "batch_id": 1}
    rows = []
    for d in col.find({}, fields):
        value = int(str(d["member"]), 16)
        rows.append(
            (
                str(d["experiment_id"]),
                value - (1 << 64) if value >= 1 << 63 else value,
                d["ts"],
                d["hour"],
                str(d["model_code"]),
                str(d.get("batch_id") or UNKNOWN_BATCH),
            )
        )
    return [members.write(spark.createDataFrame(rows, STATE_SCHEMA))]


# --- the job's step ---------------------------------------------------------------------------


def with_member_counts(rows: Sequence[Any], counts: Counts) -> list[Any]:
    """``rows`` (``HourlyMetric``) with ``first_members_by_batch`` from ``counts`` (empty where
    no member was first assigned)."""
    return [
        replace(r, first_members_by_batch=counts.get((r.experiment_id, r.model_code, r.hour), {}))
        for r in rows
    ]


@dataclass
class MembersReport:
    changed: int = 0
    superseded: int = 0
    hours_recounted: int = 0
    #: The recounted hours' ``first_members_by_batch``, by (experiment, model, hour).
    counts: Counts = field(default_factory=dict)
    seconds: float = 0.0
    #: Where the time went: ``changes`` (candidates, join, new generation), ``recount``,
    #: ``commit`` (the live list and the clean-up).
    steps: dict[str, float] = field(default_factory=dict)


def update_first_members(
    spark: Any,
    store: Any,
    settings: Any,
    processed: Sequence[datetime],
    hours_with_data: Sequence[datetime],
    running: Sequence[Experiment],
    views: Any = None,
) -> MembersReport:
    """Fold the processed hours' impressions into the first assignments and count the members.

    Call before the touched hours' hourly metrics are replaced, and write them with
    ``report.counts`` (``with_member_counts``). The counts of recounted hours outside
    ``hours_with_data`` (an hour whose members moved earlier) are set here. ``views``: the
    impressions by member (``transform.member_views``, ``fresh`` the processed hours' rows;
    None: there are none). A store without a MongoDB database
    (``store.db``) keeps no member state: nothing is counted.
    """
    from pymongo import UpdateOne
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    from services.mongo import schema
    from services.mongo.repository import metric_id

    report = MembersReport()
    db = getattr(store, "db", None)
    if db is None or not processed or not running:
        return report
    t0 = time.perf_counter()
    members = MemberState(spark, db, settings.state)
    live = members.live()
    members.clean(live)
    if not live and not members.listed():
        legacy = from_legacy_collection(spark, db, members)
        if legacy:
            members.commit(legacy)
            live = legacy
    ids = sorted({e.experiment_id for e in running})
    stored = members.read(live)
    new_live = list(live)
    recount = {(e, h) for e in ids for h in hours_with_data}
    if views is not None:
        candidates = earliest_impressions(views, ids)
        changed = changed_assignments(candidates, stored.filter(F.col("experiment_id").isin(ids)))
        changed = changed.persist(StorageLevel.MEMORY_AND_DISK)
        try:
            moved = (
                changed.groupBy("experiment_id", "hour", "superseded_hour")
                .agg(F.count(F.lit(1)).alias("n"))
                .collect()
            )
            report.changed = sum(int(r["n"]) for r in moved)
            report.superseded = sum(int(r["n"]) for r in moved if r["superseded_hour"])
            for r in moved:
                recount.add((r["experiment_id"], r["hour"]))
                if r["superseded_hour"] is not None:
                    recount.add((r["experiment_id"], r["superseded_hour"]))
            fresh = changed.select(*STATE_COLUMNS)
            if report.superseded or len(live) >= COMPACT_AFTER:
                # One row per member: the stored rows of the changed members are dropped.
                kept = stored.join(
                    changed.select("experiment_id", "member"),
                    ["experiment_id", "member"],
                    "left_anti",
                )
                new_live = [members.write(kept.unionByName(fresh))]
            elif report.changed:
                new_live = [*live, members.write(fresh)]
        finally:
            changed.unpersist()
    t1 = time.perf_counter()
    report.steps["changes"] = t1 - t0

    counts: Counts = {}
    if recount:
        state = members.read(new_live)
        for r in first_member_counts(state, sorted(recount)).collect():
            per = counts.setdefault((r["experiment_id"], r["model_code"], r["hour"]), {})
            per[str(r["batch_id"])] = int(r["members"])
    report.hours_recounted = len(recount)
    report.counts = counts
    t2 = time.perf_counter()
    report.steps["recount"] = t2 - t1

    # Hours outside the touched ones whose members moved earlier: their documents are not
    # rewritten by the caller, so their counts are set here, before the commit: a run cut short
    # in between leaves the state as it was, and its re-run finds the same change and recounts
    # them (after the commit, the re-run would find nothing to change).
    by_id = {e.experiment_id: e for e in running}
    touched = set(hours_with_data)
    updates = []
    for experiment_id, hour in sorted(recount):
        if hour in touched:
            continue
        models = set(by_id[experiment_id].model_codes) | {
            m for e, m, h in counts if e == experiment_id and h == hour
        }
        for model in sorted(models):
            per = counts.get((experiment_id, model, hour), {})
            updates.append(
                UpdateOne(
                    {"_id": metric_id(experiment_id, model, hour)},
                    {"$set": {"first_members_by_batch": per}},
                )
            )
    if updates:
        db[schema.HOURLY_METRICS].bulk_write(updates, ordered=False)
    if new_live != live:
        members.commit(new_live)
        members.clean(new_live)
    report.steps["commit"] = time.perf_counter() - t2
    report.seconds = time.perf_counter() - t0
    return report
