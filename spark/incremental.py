"""The Spark part of one incremental batch: parse the new hours once, read the others back.

Each processed hour is parsed from its raw logs exactly once per run: its lines are counted per
file (malformed ones quarantined), its events deduplicated and written as a compact Parquet copy
under ``STATE/events/part=YYYY-MM-DDTHH`` (one folder per raw partition, replaced when the hour is
processed again). The hours a batch only reads back (attribution look-back, late clicks, hours
after a late-processed one) come from that copy, or from the raw logs where there is none yet.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from services.events.layout import PARTITION_PATTERN, hour_of_partition
from services.hourly_metrics import HourlyMetric
from spark import extract, transform
from spark.batch_plan import BatchPlan

#: What the compact copy keeps of an event (``copies``: deliveries of its ``event_id``).
STATE_COLUMNS = (
    "event_id",
    "event_type",
    "request_id",
    "ts",
    "hour",
    "member_id",
    "experiment_id",
    "model_code",
    "batch_id",
    "propensity",
)

STATE_SCHEMA = (
    "event_id string, event_type string, request_id string, ts timestamp_ntz, "
    "hour timestamp_ntz, member_id string, experiment_id string, model_code string, "
    "batch_id string, propensity double, copies long, part string"
)


@dataclass
class HoursResult:
    """Hourly metrics of the touched hours that have events, and counts per processed hour."""

    hourly: list[HourlyMetric] = field(default_factory=list)
    hours_with_data: list[datetime] = field(default_factory=list)
    counts: dict[datetime, dict[str, Any]] = field(default_factory=dict)


def part_key(hour: datetime) -> str:
    return f"{hour:%Y-%m-%dT%H}"


def _part_of(file: Column) -> Column:
    day = F.regexp_extract(file, PARTITION_PATTERN.pattern, 1)
    hh = F.regexp_extract(file, PARTITION_PATTERN.pattern, 2)
    return F.concat(day, F.lit("T"), hh)


def _hour_in(column: str, hours: Iterable[datetime]) -> Column:
    return F.col(column).isin([transform._ntz(h) for h in hours])


def state_path(state_root: str) -> str:
    return f"{state_root}/events"


def staging_path(state_root: str) -> str:
    """Where a run parses its new hours before deduplicating them (removed after the run)."""
    return f"{state_root}/parsing"


def _zero_hour() -> dict[str, Any]:
    return {
        "events": 0,
        "malformed_lines": 0,
        "malformed_files": 0,
        "quality": {},
        "impressions": [],
    }


def _unique_events(parsed: DataFrame) -> DataFrame:
    valid = parsed.filter("valid").select(*STATE_COLUMNS, _part_of(F.col("file")).alias("part"))
    return transform.deduplicate_rare(valid)


def _read_back(
    spark: SparkSession, settings: Any, hours: Sequence[datetime], parsed_hours: set[datetime]
) -> tuple[list[DataFrame], list[datetime]]:
    """Frames of the events of ``hours`` (compact copy, else raw), and the hours that had any."""
    base = state_path(settings.state)
    wanted = {f"{base}/part={part_key(h)}": h for h in hours}
    copied = extract.existing_paths(spark, list(wanted))
    frames = []
    found = [wanted[p] for p in copied]
    if copied:
        frames.append(spark.read.option("basePath", base).parquet(*copied))
    missing = [h for h in hours if h not in set(found) and h not in parsed_hours]
    raw = extract.existing_paths(spark, extract.hour_paths(settings.root, missing))
    if raw:
        frames.append(_unique_events(extract.read_events(spark, raw)))
        found.extend(hour_of_partition(p) for p in raw)
    return frames, found


def process_hours(
    spark: Any,
    settings: Any,
    plan: BatchPlan,
    running: set[str],
    report: Any,
    records: dict[datetime, dict[str, Any]] | None = None,
) -> HoursResult:
    """Parse ``plan.process``, write their compact copies, aggregate ``plan.touched``."""
    import time

    result = HoursResult()
    records = records or {}
    t0 = time.perf_counter()
    paths = extract.hour_paths(settings.root, plan.process)
    report.hours_read = sorted(set(plan.process))
    # One pass over the raw JSON: the parsed lines go to a Parquet staging copy that the line
    # counts, the quarantine and the deduplication then read column by column. Cheaper than
    # caching the parsed frame (building the in-memory columns costs more than writing Parquet)
    # and it holds nothing in the JVM's memory.
    staging = staging_path(settings.state)
    extract.read_events(spark, paths).write.mode("overwrite").parquet(staging)
    try:
        parsed = spark.read.parquet(staging)
        lines = extract.line_counts(parsed).collect()
        per_hour: dict[datetime, dict[str, Any]] = {h: _zero_hour() for h in plan.process}
        for row in lines:
            hour = hour_of_partition(row["file"])
            counts = per_hour.setdefault(hour, _zero_hour())
            counts["events"] += int(row["valid_lines"])
            if row["malformed_lines"]:
                counts["malformed_lines"] += int(row["malformed_lines"])
                counts["malformed_files"] += 1
                report.malformed_by_file[row["file"]] = int(row["malformed_lines"])
        report.seconds["extract_parse"] = time.perf_counter() - t0
        report.events = sum(int(r["valid_lines"]) for r in lines)
        report.malformed_lines = sum(report.malformed_by_file.values())
        if report.malformed_lines:
            extract.quarantine(extract.malformed_lines(parsed), settings.quarantine)
        t_copy = time.perf_counter()
        unique = _unique_events(parsed)
        if len(plan.process) == 1:
            # One hour: straight into its folder (a partitioned write sorts every row by part).
            target = f"{state_path(settings.state)}/part={part_key(plan.process[0])}"
            unique.drop("part").write.mode("overwrite").parquet(target)
        else:
            (
                unique.write.mode("overwrite")
                .option("partitionOverwriteMode", "dynamic")
                .partitionBy("part")
                .parquet(state_path(settings.state))
            )
        report.seconds["extract_copy"] = time.perf_counter() - t_copy
    finally:
        extract.delete_path(spark, staging)
    report.seconds["extract"] = time.perf_counter() - t0

    t1 = time.perf_counter()
    base = state_path(settings.state)
    copies = extract.existing_paths(spark, [f"{base}/part={part_key(h)}" for h in plan.process])
    fresh = (
        spark.read.option("basePath", base).parquet(*copies)
        if copies
        else spark.createDataFrame([], STATE_SCHEMA)
    )
    frames, found = _read_back(spark, settings, plan.read_back, set(plan.process))
    events = fresh
    for frame in frames:
        events = events.unionByName(frame)
    report.hours_read = sorted(set(report.hours_read) | set(found))
    have = set(found) | set(plan.process)
    result.hours_with_data = [h for h in plan.touched if h in have]

    duplicates = (
        fresh.filter(F.col("copies") > 1)
        .groupBy("part", "experiment_id")
        .agg(F.sum(F.col("copies") - 1).cast("long").alias("n"))
        .collect()
    )
    # The impression side of an hour is fixed once it is processed: computed for the processed
    # hours (and any touched hour without a record of it), taken from the records otherwise.
    recorded = {
        h: records[h]["impressions"]
        for h in result.hours_with_data
        if h not in plan.process and isinstance((records.get(h) or {}).get("impressions"), list)
    }
    to_count = [h for h in result.hours_with_data if h not in recorded]
    # The hours before the touched ones only tell late clicks from orphans: of their
    # impressions only the request id and time are read (Parquet reads just those columns).
    late = [part_key(h) for h in plan.read_back if h < plan.touched[0]]
    impressions = transform.impressions_of(
        events.filter(~F.col("part").isin(late)), extra=("batch_id", "propensity")
    )
    if late:
        null = {"hour": "timestamp_ntz", "member_id": "string", "experiment_id": "string"}
        null.update({"model_code": "string", "batch_id": "string", "propensity": "double"})
        thin = events.filter(
            F.col("part").isin(late) & (F.col("event_type") == "impression")
        ).select("request_id", "ts", *[F.lit(None).cast(t).alias(c) for c, t in null.items()])
        impressions_for_join = impressions.unionByName(thin)
    else:
        impressions_for_join = impressions
    sides = _impression_sides(impressions.filter(_hour_in("hour", to_count))) if to_count else {}
    for hour, entries in recorded.items():
        for entry in entries:
            sides[(entry["experiment_id"], entry["model_code"], hour)] = entry

    report.seconds["transform_sides"] = time.perf_counter() - t1
    first = transform._ntz(plan.touched[0])
    actions = (
        events.filter((F.col("event_type") != "impression") & (F.col("hour") >= first))
        .select(
            "event_id",
            "event_type",
            "request_id",
            "ts",
            "experiment_id",
            F.col("hour").alias("at"),
        )
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    try:
        # Only the impressions some action asks for enter the join: a broadcast semi-join
        # streams the hours read instead of shuffling them.
        asked = F.broadcast(actions.select("request_id").distinct())
        candidates = impressions_for_join.join(asked, "request_id", "left_semi")
        attributed = transform.attribute_actions(
            candidates,
            actions,
            settings.attribution_seconds,
            keep=("at",),
            keep_impression=("propensity",),
        ).persist(StorageLevel.MEMORY_AND_DISK)
        try:
            quality = transform.action_quality(
                attributed.filter(_hour_in("at", plan.process)), by=("at",)
            ).collect()
            clicks = {
                (r["experiment_id"], r["model_code"], r["hour"]): r
                for r in transform.click_side(
                    attributed.filter(_hour_in("imp_hour", result.hours_with_data))
                ).collect()
            }
        finally:
            attributed.unpersist()
    finally:
        actions.unpersist()

    for row in duplicates:
        hour = datetime.strptime(row["part"], "%Y-%m-%dT%H")
        q = per_hour[hour]["quality"].setdefault(row["experiment_id"], _zero_quality())
        q["duplicate_events"] += int(row["n"])
    for row in quality:
        q = per_hour[row["at"]]["quality"].setdefault(row["experiment_id"], _zero_quality())
        for name in ("orphan_clicks", "late_clicks", "orphan_orders", "late_orders"):
            q[name] += int(row[name])
    for (exp, model, hour), side in sides.items():
        if hour in per_hour:
            per_hour[hour]["impressions"].append(
                {"experiment_id": exp, "model_code": model, **_side_fields(side)}
            )
    result.counts = per_hour

    for (exp, model, hour), side in sorted(sides.items()):
        if exp not in running:
            continue
        credited = clicks.get((exp, model, hour))
        result.hourly.append(
            HourlyMetric(
                experiment_id=exp,
                model_code=model,
                hour=hour,
                clicks=int(credited["clicks"]) if credited else 0,
                orders=int(credited["orders"]) if credited else 0,
                ipw_clicks=_sum_of_weights(credited["ipw_clicks"]) if credited else 0.0,
                **_side_fields(side),
            )
        )
    report.seconds["transform"] = time.perf_counter() - t1
    return result


def _sum_of_weights(value: Any) -> float:
    """A sum of inverse propensities, rounded to 1e-6: Spark adds in partition order, so the last
    bits differ between a run of one hour and a catch-up of many; the stored figure must not."""
    return round(float(value or 0.0), 6)


def _side_fields(side: dict[str, Any]) -> dict[str, Any]:
    return {
        "impressions": int(side["impressions"]),
        "unique_members": int(side["unique_members"]),
        "propensity_missing": int(side.get("propensity_missing", 0)),
        "ipw_weight": _sum_of_weights(side.get("ipw_weight", 0.0)),
        "impressions_by_batch": {
            str(k): int(v) for k, v in (side.get("impressions_by_batch") or {}).items()
        },
        "first_views_by_batch": {
            str(k): int(v) for k, v in (side.get("first_views_by_batch") or {}).items()
        },
    }


def _impression_sides(impressions: DataFrame) -> dict[tuple[str, str, datetime], dict[str, Any]]:
    """The impression side of every (experiment, model, hour) in ``impressions``, by key."""
    sides: dict[tuple[str, str, datetime], dict[str, Any]] = {}
    for r in transform.impression_side(impressions).collect():
        sides[(r["experiment_id"], r["model_code"], r["hour"])] = {
            **r.asDict(),
            "impressions_by_batch": {},
            "first_views_by_batch": {},
        }
    for r in transform.impressions_by_batch(impressions).collect():
        side = sides.get((r["experiment_id"], r["model_code"], r["hour"]))
        if side is not None:
            side["impressions_by_batch"][r["batch_id"]] = int(r["impressions"])
    for r in transform.first_views_by_batch(impressions).collect():
        side = sides.get((r["experiment_id"], r["model_code"], r["hour"]))
        if side is not None:
            side["first_views_by_batch"][r["batch_id"]] = int(r["first_views"])
    return sides


def _zero_quality() -> dict[str, int]:
    return {
        "duplicate_events": 0,
        "orphan_clicks": 0,
        "late_clicks": 0,
        "orphan_orders": 0,
        "late_orders": 0,
    }
