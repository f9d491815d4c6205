"""The Spark part of one incremental batch: parse the new hours once, read the others back.

Each processed hour is parsed from its raw logs exactly once per run: its lines are counted per
file (malformed ones quarantined), its events deduplicated and written as a compact Parquet copy
under ``STATE/events/part=YYYY-MM-DDTHH`` (one folder per raw partition, replaced when the hour is
processed again). The hours a batch only reads back (attribution look-back, late clicks, hours
after a late-processed one) come from that copy, or from the raw logs where there is none yet.
The hour's record notes the first and last hour of the events its copy holds (``event_hours``):
a step that wants some hours' events reads only the copies that can hold them.
"""

from __future__ import annotations

from collections import defaultdict
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

#: What the compact copy keeps of an event (``copies``: deliveries of its ``event_id``; an
#: impression's ``event_id`` only where it repeats, the one place it is read).
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

#: Events in a batch up to which the touched hours' clicks and orders are broadcast to the
#: impressions. A larger batch (a long catch-up) joins them by a shuffle: its actions could
#: outgrow the memory a broadcast takes on the driver and on every executor.
BROADCAST_EVENTS = 20_000_000

STATE_SCHEMA = (
    "event_id string, event_type string, request_id string, ts timestamp_ntz, "
    "hour timestamp_ntz, member_id string, experiment_id string, model_code string, "
    "batch_id string, propensity double, copies long, line boolean, valid boolean, "
    "value string, file string, part string"
)


@dataclass
class HoursResult:
    """Hourly metrics of the touched hours that have events, and counts per processed hour."""

    hourly: list[HourlyMetric] = field(default_factory=list)
    hours_with_data: list[datetime] = field(default_factory=list)
    counts: dict[datetime, dict[str, Any]] = field(default_factory=dict)
    #: The impressions by member (``transform.member_views``, ``fresh``: of a processed hour),
    #: held in memory for the member step; the caller unpersists them.
    views: Any = None


PART_FORMAT = "%Y-%m-%dT%H"


def part_key(hour: datetime) -> str:
    return hour.strftime(PART_FORMAT)


def _part_of(file: Column) -> Column:
    day = F.regexp_extract(file, PARTITION_PATTERN.pattern, 1)
    hh = F.regexp_extract(file, PARTITION_PATTERN.pattern, 2)
    return F.concat(day, F.lit("T"), hh)


def _hour_in(column: str, hours: Iterable[datetime]) -> Column:
    return F.col(column).isin([transform._ntz(h) for h in hours])


def state_path(state_root: str) -> str:
    return f"{state_root}/events"


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
) -> tuple[list[DataFrame], list[datetime], list[datetime]]:
    """Frames of the events of ``hours`` (compact copy, else raw), the hours read from their
    copies and those read from raw logs."""
    rows, copied = _copies(spark, state_path(settings.state), hours)
    frames = [_events_of(rows)] if copied else []
    missing = [h for h in hours if h not in set(copied) and h not in parsed_hours]
    raw = extract.existing_paths(spark, extract.hour_paths(settings.root, missing))
    if raw:
        frames.append(_unique_events(extract.read_events(spark, raw)))
    return frames, copied, [hour_of_partition(p) for p in raw]


def _copies(spark: SparkSession, base: str, hours: Sequence[datetime]) -> tuple[DataFrame, list]:
    """Every row of the compact copies of ``hours`` that exist (lines included), and the hours
    found. Read with the copy's full schema: a copy written before lines were kept reads with
    ``line``, ``valid``, ``value`` and ``file`` null."""
    wanted = {f"{base}/part={part_key(h)}": h for h in hours}
    found = extract.existing_paths(spark, list(wanted))
    if not found:
        return spark.createDataFrame([], STATE_SCHEMA), []
    frame = spark.read.schema(STATE_SCHEMA).option("basePath", base).parquet(*found)
    return frame, [wanted[p] for p in found]


def _events_of(copy: DataFrame) -> DataFrame:
    """The events of a copy, one row each, ``copies`` its deliveries: the rows with ``copies``
    > 0 (a copy written before lines were kept holds only such rows)."""
    return copy.filter(F.col("copies") > 0).select(*STATE_COLUMNS, "copies", "part")


def _parse_into_copies(
    spark: SparkSession, settings: Any, process: Sequence[datetime]
) -> DataFrame:
    """Parse the raw lines of ``process`` once, into their compact copies; every row of them.

    Every line becomes a row of its hour's copy (``line`` true): an event no other line
    repeats with ``copies`` 1, a malformed line with ``valid`` false and its text in ``value``,
    and each delivery of a repeated id with ``copies`` 0. One merged row per repeated id,
    ``copies`` its deliveries, is then appended (``line`` false). Readers keep the rows with
    ``copies`` > 0: the events, each once. The repeated ids come first, from a pass that reads
    only ``event_id`` (``extract.repeated_ids``); the copy is then one parse and one write, with
    no shuffle of the events: only the repeated ones are grouped.
    """
    base = state_path(settings.state)
    paths = extract.hour_paths(settings.root, process)
    repeated, how_many = extract.repeated_ids(spark, paths)
    marks = repeated.select("event_id", F.lit(True).alias("repeat"))
    if how_many is not None:
        marks = F.broadcast(marks)
    parsed = extract.read_events(spark, paths)
    if how_many:
        parsed = parsed.join(marks, "event_id", "left")
    else:
        parsed = parsed.withColumn("repeat", F.lit(None).cast("boolean"))
    single = F.col("valid") & F.col("repeat").isNull()
    # An impression's id is read only to merge its deliveries: kept where it repeats.
    needed = ~single | (F.col("event_type") != "impression")
    lines = parsed.select(
        F.when(needed, F.col("event_id")).alias("event_id"),
        *STATE_COLUMNS[1:],
        F.when(single, 1).otherwise(0).cast("long").alias("copies"),
        F.lit(True).alias("line"),
        "valid",
        "value",
        # The file is read only for a malformed line and a repeated delivery (counted per file):
        # named on those rows alone, it is not formed for every line.
        F.when(~single, F.col("file")).alias("file"),
        _part_of(F.col("file")).alias("part"),
    )
    _write_copies(lines, base, process, "overwrite")
    rows, _ = _copies(spark, base, process)
    if how_many == 0:
        return rows
    deliveries = rows.filter((F.col("copies") == 0) & F.col("valid")).select(
        *STATE_COLUMNS, "file", "part"
    )
    merged = transform.deduplicate_with_copies(deliveries).select(
        *STATE_COLUMNS,
        "copies",
        F.lit(False).alias("line"),
        F.lit(True).alias("valid"),
        F.lit(None).cast("string").alias("value"),
        "file",
        "part",
    )
    _write_copies(merged, base, process, "append")
    return _copies(spark, base, process)[0]


def _write_copies(frame: DataFrame, base: str, hours: Sequence[datetime], mode: str) -> None:
    """Write ``frame`` (with its ``part``) into the copies of ``hours``. One hour: straight into
    its folder. Several: one partitioned write, replacing only the hours written (a partitioned
    write sorts each task's rows by hour, but stays one job however many small hours a long
    rebuild holds)."""
    one = len(hours) == 1
    # The ids and times are nearly all distinct, and an hour names some 200,000 members: a
    # dictionary of them would be built only to be dropped once it outgrows its page.
    writer = (frame.drop("part") if one else frame).write.mode(mode).options(**_NO_DICTIONARY)
    if one:
        writer.parquet(f"{base}/part={part_key(hours[0])}")
    else:
        writer.option("partitionOverwriteMode", "dynamic").partitionBy("part").parquet(base)


_NO_DICTIONARY = {
    f"parquet.enable.dictionary#{column}": "false"
    for column in ("event_id", "request_id", "member_id", "ts")
}


def _line_counts(rows: DataFrame) -> list[Any]:
    """Per copy (``part``), and per file and experiment for the rows that name them (malformed
    lines, merged events): valid and malformed lines, deliveries beyond the first, and the
    first and last hour of the events."""
    line, valid, copies = F.col("line"), F.col("valid"), F.col("copies")
    return (
        rows.groupBy(
            "part",
            F.when(~line | ~valid, F.col("file")).alias("file"),
            F.when(copies > 1, F.col("experiment_id")).alias("experiment_id"),
        )
        .agg(
            F.sum(F.when(line & valid, 1).otherwise(0)).cast("long").alias("valid_lines"),
            F.sum(F.when(line & ~valid, 1).otherwise(0)).cast("long").alias("malformed_lines"),
            F.sum(F.when(copies > 1, copies - 1).otherwise(0)).cast("long").alias("duplicates"),
            F.min(F.when(valid, F.col("hour"))).alias("first_hour"),
            F.max(F.when(valid, F.col("hour"))).alias("last_hour"),
        )
        .collect()
    )


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
    report.hours_read = sorted(set(plan.process))
    rows = _parse_into_copies(spark, settings, plan.process)
    report.seconds["extract_parse"] = time.perf_counter() - t0
    t_counts = time.perf_counter()
    per_hour: dict[datetime, dict[str, Any]] = {h: _zero_hour() for h in plan.process}
    duplicates: list[tuple[datetime, str, int]] = []
    malformed_by_file: dict[str, int] = defaultdict(int)
    for row in _line_counts(rows):
        hour = datetime.strptime(row["part"], PART_FORMAT)
        counts = per_hour.setdefault(hour, _zero_hour())
        counts["events"] += int(row["valid_lines"])
        if row["first_hour"] is not None:
            counts["event_hours"] = _widened(
                counts.get("event_hours"), row["first_hour"], row["last_hour"]
            )
        if row["malformed_lines"]:
            malformed_by_file[row["file"]] += int(row["malformed_lines"])
        if row["duplicates"]:
            duplicates.append((hour, row["experiment_id"], int(row["duplicates"])))
    for file, n in malformed_by_file.items():
        if n:
            per_hour[hour_of_partition(file)]["malformed_lines"] += n
            per_hour[hour_of_partition(file)]["malformed_files"] += 1
            report.malformed_by_file[file] = n
    report.events = sum(c["events"] for c in per_hour.values())
    report.malformed_lines = sum(report.malformed_by_file.values())
    if report.malformed_lines:
        malformed = rows.filter(F.col("line") & ~F.col("valid")).select("file", "value")
        extract.quarantine(malformed, settings.quarantine)
    report.seconds["extract_copy"] = time.perf_counter() - t_counts
    report.seconds["extract"] = time.perf_counter() - t0

    t1 = time.perf_counter()
    fresh = _events_of(rows)
    frames, copied, raw = _read_back(spark, settings, plan.read_back, set(plan.process))
    found = copied + raw
    events = fresh
    for frame in frames:
        events = events.unionByName(frame)
    # The hours of the events in each copy (its record, or this run's counts): a step that
    # wants only some hours' events does not read the copies that hold none of them.
    spans = {h: (records.get(h) or {}).get("event_hours") for h in copied}
    spans.update({h: per_hour[h].get("event_hours") for h in plan.process})
    parts = sorted(set(found) | set(plan.process))
    report.hours_read = sorted(set(report.hours_read) | set(found))
    have = set(found) | set(plan.process)
    result.hours_with_data = [h for h in plan.touched if h in have]

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
        events.filter(~F.col("part").isin(late)), extra=("batch_id", "propensity", "part")
    )
    # Grouped by member: the impressions of the hours counted, and those of the processed hours
    # (``fresh``, whatever their time) for the member state.
    fresh_parts = F.col("part").isin([part_key(h) for h in plan.process])
    counted_parts = _parts_holding(spans, parts, hours=to_count) + list(plan.process)
    members_input = impressions.filter(
        F.col("part").isin([part_key(h) for h in counted_parts])
        & (_hour_in("hour", to_count) | fresh_parts)
    ).select(*[c for c in impressions.columns if c != "part"], fresh_parts.alias("fresh"))
    impressions = impressions.drop("part")
    if late:
        null = {"hour": "timestamp_ntz", "member_id": "string", "experiment_id": "string"}
        null.update({"model_code": "string", "batch_id": "string", "propensity": "double"})
        thin = events.filter(
            F.col("part").isin(late) & (F.col("event_type") == "impression")
        ).select("request_id", "ts", *[F.lit(None).cast(t).alias(c) for c, t in null.items()])
        impressions_for_join = impressions.unionByName(thin)
    else:
        impressions_for_join = impressions
    first = transform._ntz(plan.touched[0])
    # The actions are few: kept in memory, they are read once for the broadcast and the totals.
    action_parts = [part_key(h) for h in _parts_holding(spans, parts, since=plan.touched[0])]
    actions = (
        events.filter(
            F.col("part").isin(action_parts)
            & (F.col("event_type") != "impression")
            & (F.col("hour") >= first)
        )
        .select(
            "event_id", "event_type", "request_id", "ts", "experiment_id", F.col("hour").alias("at")
        )
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    try:
        sides, result.views = _impression_sides(members_input, to_count)
        report.seconds["transform_sides"] = time.perf_counter() - t1
        clicks, quality = _attribute(
            impressions_for_join,
            actions,
            settings.attribution_seconds,
            processed=plan.process,
            imp_hours=result.hours_with_data,
            broadcast=report.events <= BROADCAST_EVENTS,
        )
    except BaseException:
        if result.views is not None:
            result.views.unpersist()
        raise
    finally:
        actions.unpersist()
    for hour, entries in recorded.items():
        for entry in entries:
            sides[(entry["experiment_id"], entry["model_code"], hour)] = entry

    for hour, experiment_id, n in duplicates:
        q = per_hour[hour]["quality"].setdefault(experiment_id, _zero_quality())
        q["duplicate_events"] += n
    for (at, experiment_id), counts in quality.items():
        q = per_hour[at]["quality"].setdefault(experiment_id, _zero_quality())
        for name, n in counts.items():
            q[name] += n
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


def _widened(span: list[datetime] | None, first: datetime, last: datetime) -> list[datetime]:
    return [first, last] if span is None else [min(span[0], first), max(span[1], last)]


def _parts_holding(
    spans: dict[datetime, Any],
    parts: Sequence[datetime],
    *,
    since: datetime | None = None,
    hours: Sequence[datetime] = (),
) -> list[datetime]:
    """The copies among ``parts`` that may hold events at or after ``since``, or of one of
    ``hours``: those whose span of event hours (``spans``, ``[first, last]``) says so, and
    every copy without a known span."""

    def holds(span: Any) -> bool:
        if span is None:
            return True
        first, last = span
        return (since is not None and last >= since) or any(first <= h <= last for h in hours)

    return [part for part in parts if holds(spans.get(part))]


def _attribute(
    impressions: DataFrame,
    actions: DataFrame,
    attribution_seconds: int,
    *,
    processed: Sequence[datetime],
    imp_hours: Sequence[datetime],
    broadcast: bool = True,
) -> tuple[dict[tuple[str, str, datetime], dict[str, Any]], dict[tuple[datetime, str], dict]]:
    """The click side of ``imp_hours`` and the action quality of the ``processed`` hours.

    The actions (clicks and orders of the touched hours: a small frame) are broadcast and the
    impressions read stream past them: only the pairs that share a request id come out, with no
    shuffle of the impressions (``broadcast`` false: a shuffle join, for a batch too large to
    broadcast its actions). A pair is *attributed* or *late* as in
    ``transform.attributed_pairs``; an action in no pair is an *orphan*: its count is the
    actions less those in some pair.
    """
    small = F.broadcast(actions) if broadcast else actions
    pairs = transform.attributed_pairs(impressions, small, attribution_seconds)
    # One aggregation over the pairs, so that the impressions are read once: each pair is keyed
    # for the click side (its impression's request, when attributed within the hours counted)
    # and for the quality (its action, when in a processed hour), then reduced per key.
    credited = (F.col("status") == transform.ATTRIBUTED) & _hour_in("imp_hour", imp_hours)

    def keyed_as(kind: str, *columns: str) -> Column:
        return F.struct(
            F.lit(kind).alias("kind"),
            *[F.col(c).alias(n) for c, n in zip(columns, ("e", "m", "t", "k"), strict=True)],
        )

    key = F.explode(
        F.array(
            F.when(
                credited,
                keyed_as("click", "imp_experiment_id", "imp_model_code", "imp_hour", "request_id"),
            ),
            F.when(
                _hour_in("at", processed),
                keyed_as("matched", "experiment_id", "event_type", "at", "event_id"),
            ),
        )
    )
    keyed = pairs.select(
        key.alias("key"),
        (F.col("event_type") == "click").cast("int").alias("click"),
        (F.col("event_type") == "order").cast("int").alias("order"),
        (F.col("status") == transform.LATE).cast("int").alias("late"),
        F.col("imp_propensity").alias("propensity"),
    ).filter(F.col("key").isNotNull())
    per_key = keyed.groupBy("key.kind", "key.e", "key.m", "key.t", "key.k").agg(
        F.max("click").alias("clicked"),
        F.sum("order").alias("orders"),
        F.sum("late").alias("late"),
        F.first("propensity").alias("propensity"),
    )
    weight = F.when(
        (F.col("clicked") == 1) & transform.valid_propensity(), 1.0 / F.col("propensity")
    )
    figures = per_key.groupBy("kind", "e", "m", "t").agg(
        # click: impressions clicked (once however many clicks), orders, ipw_clicks;
        # matched: actions in some pair, of which pairs late
        F.sum("clicked").cast("long").alias("a"),
        F.sum("orders").cast("long").alias("b"),
        F.coalesce(F.sum(weight), F.lit(0.0)).cast("double").alias("c"),
        F.count(F.lit(1)).cast("long").alias("n"),
        F.sum("late").cast("long").alias("late"),
    )
    total = (
        actions.filter(_hour_in("at", processed))
        .groupBy("experiment_id", "event_type", "at")
        .agg(F.count(F.lit(1)).cast("long").alias("n"))
        .select(
            F.lit("total").alias("kind"),
            F.col("experiment_id").alias("e"),
            F.col("event_type").alias("m"),
            F.col("at").alias("t"),
            F.lit(None).cast("long").alias("a"),
            F.lit(None).cast("long").alias("b"),
            F.lit(None).cast("double").alias("c"),
            "n",
            F.lit(None).cast("long").alias("late"),
        )
    )
    rows = figures.unionByName(total).collect()
    clicks = {
        (r["e"], r["m"], r["t"]): {"clicks": r["a"], "orders": r["b"], "ipw_clicks": r["c"]}
        for r in rows
        if r["kind"] == "click"
    }
    late: dict[tuple[str, str, datetime], tuple[int, int]] = {}
    for r in rows:
        if r["kind"] == "matched":
            late[(r["e"], r["m"], r["t"])] = (int(r["late"]), int(r["n"]))
    quality: dict[tuple[datetime, str], dict[str, int]] = {}
    for r in rows:
        if r["kind"] != "total" or r["m"] not in ("click", "order"):
            continue
        n_late, n_matched = late.get((r["e"], r["m"], r["t"]), (0, 0))
        q = quality.setdefault((r["t"], r["e"]), dict.fromkeys(_ACTION_QUALITY, 0))
        q[f"orphan_{r['m']}s"] += int(r["n"]) - n_matched
        q[f"late_{r['m']}s"] += n_late
    return clicks, quality


_ACTION_QUALITY = ("orphan_clicks", "late_clicks", "orphan_orders", "late_orders")


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


def _impression_sides(
    impressions: DataFrame, hours: Sequence[datetime]
) -> tuple[dict[tuple[str, str, datetime], dict[str, Any]], transform.MemberViews]:
    """The impression side of every (experiment, model, hour) of ``hours``, by key, and the
    impressions by member (``transform.member_views``, kept in memory: the caller unpersists
    them). ``impressions`` has a ``fresh`` column."""
    counted = _hour_in("hour", hours)
    sides: dict[tuple[str, str, datetime], dict[str, Any]] = {}
    keys = []
    for r in transform.batch_figures(impressions).collect():
        keys.append((r["experiment_id"], r["model_code"], r["batch_id"]))
        if r["hour"] not in hours:
            continue
        side = sides.setdefault(
            (r["experiment_id"], r["model_code"], r["hour"]),
            {
                "impressions": 0,
                "unique_members": 0,
                "propensity_missing": 0,
                "ipw_weight": 0.0,
                "impressions_by_batch": {},
                "first_views_by_batch": {},
            },
        )
        side["impressions"] += int(r["impressions"])
        side["propensity_missing"] += int(r["propensity_missing"])
        side["ipw_weight"] += float(r["ipw_weight"])
        side["impressions_by_batch"][r["batch_id"]] = int(r["impressions"])
    views = transform.member_views(
        impressions, transform.ViewKeys.of(keys), by=("fresh",)
    ).persist()
    try:
        for r in transform.unique_members_of(views.filter(counted)).collect():
            side = sides[(r["experiment_id"], r["model_code"], r["hour"])]
            side["unique_members"] = int(r["unique_members"])
        for r in transform.first_views_of(views.filter(counted)).collect():
            side = sides[(r["experiment_id"], r["model_code"], r["hour"])]
            side["first_views_by_batch"][r["batch_id"]] = int(r["first_views"])
    except BaseException:
        views.unpersist()
        raise
    return sides, views


def _zero_quality() -> dict[str, int]:
    return {
        "duplicate_events": 0,
        "orphan_clicks": 0,
        "late_clicks": 0,
        "orphan_orders": 0,
        "late_orders": 0,
    }
