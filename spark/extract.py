"""Extract: read the hour partitions a batch needs, parse them with an explicit schema.

Only the partitions of the needed hours are listed, so the cost of a batch depends on the hours
it processes, not on how much history ROOT holds. Lines are parsed once, by Spark's JSON reader
in PERMISSIVE mode: a line that is not JSON keeps its text in a corrupt-record column, so that it
is counted (per file) and quarantined instead of failing the job or vanishing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from services.events.layout import partition_path
from services.events.schema import COLUMNS, REQUIRED_FIELDS, EventType
from spark.transform import repeated_event_ids

#: The event schema as Spark reads it. ``ts`` is parsed from its string afterwards: read as a
#: time, the reader would also take a JSON number as epoch seconds, which the event schema
#: (an ISO-8601 string) does not allow.
RAW_SCHEMA = T.StructType(
    [
        T.StructField("event_id", T.StringType()),
        T.StructField("event_type", T.StringType()),
        T.StructField("request_id", T.StringType()),
        T.StructField("ts", T.StringType()),
        T.StructField("member_id", T.StringType()),
        T.StructField("area_code", T.StringType()),
        T.StructField("experiment_id", T.StringType()),
        T.StructField("model_code", T.StringType()),
        T.StructField("item_id", T.StringType()),
        T.StructField("item_ids", T.ArrayType(T.StringType())),
        # Optional, logged by the selector: the batch an impression was served under and the
        # probability it had of getting this model.
        T.StructField("batch_id", T.StringType()),
        T.StructField("propensity", T.DoubleType()),
    ]
)
#: Optional impression fields the job carries beside ``COLUMNS``.
EXTRA_COLUMNS = ("batch_id", "propensity")
CORRUPT = "_corrupt_record"
# ``ts`` is checked separately: it must also parse as a time.
REQUIRED = tuple(name for name in REQUIRED_FIELDS if name != "ts")


def hour_paths(root: str, hours: Iterable[datetime]) -> list[str]:
    return [partition_path(root, hour) for hour in hours]


def _filesystem(spark: SparkSession, path: str) -> tuple[object, object]:
    """Hadoop's FileSystem for ``path`` (local, hdfs://, s3:// on EMR) and the path itself."""
    jvm = spark.sparkContext._jvm  # type: ignore[attr-defined]
    conf = spark.sparkContext._jsc.hadoopConfiguration()  # type: ignore[attr-defined]
    hpath = jvm.org.apache.hadoop.fs.Path(path)
    return hpath.getFileSystem(conf), hpath


def existing_paths(spark: SparkSession, paths: Sequence[str]) -> list[str]:
    """The paths that exist, checked through Hadoop's FileSystem."""
    found = []
    for path in paths:
        fs, hpath = _filesystem(spark, path)
        if fs.exists(hpath):  # type: ignore[attr-defined]
            found.append(path)
    return found


def child_names(spark: SparkSession, path: str) -> list[str]:
    """The names of what ``path`` holds, sorted (none when it does not exist)."""
    fs, hpath = _filesystem(spark, path)
    if not fs.exists(hpath):  # type: ignore[attr-defined]
        return []
    return sorted(str(s.getPath().getName()) for s in fs.listStatus(hpath))  # type: ignore[attr-defined]


def delete_path(spark: SparkSession, path: str) -> None:
    """Remove ``path`` and what it holds (a missing path is fine)."""
    fs, hpath = _filesystem(spark, path)
    fs.delete(hpath, True)  # type: ignore[attr-defined]


def read_lines(spark: SparkSession, paths: Sequence[str]) -> DataFrame:
    """Every line of the part files under ``paths``: columns ``file``, ``value``.

    Hidden files (a writer's temporary ``.part...tmp``) are skipped by Spark; ``.gz`` files are
    decompressed by their extension.
    """
    if not paths:
        schema = T.StructType(
            [T.StructField("file", T.StringType()), T.StructField("value", T.StringType())]
        )
        return spark.createDataFrame([], schema)
    return spark.read.text(list(paths)).select(F.col("_metadata.file_path").alias("file"), "value")


def _valid(parsed: Column) -> Column:
    checks = [parsed[name].isNotNull() & (F.length(parsed[name]) > 0) for name in REQUIRED]
    checks.append(parsed["event_type"].isin([t.value for t in EventType]))
    out = checks[0]
    for check in checks[1:]:
        out = out & check
    return out


def parse_ts(name: str) -> Column:
    """Column ``name`` (an event's ``ts``) as UTC timestamp_ntz; null when it is not a date and
    time (needs the session time zone to be UTC, as the job sets it).

    A time without a date is refused: Spark alone would take it as today's, which no two runs
    agree on, where the event schema refuses it.
    """
    text = F.col(name)
    return F.when(F.substring(text, 5, 1) == "-", F.try_to_timestamp(text)).cast(
        T.TimestampNTZType()
    )


def parse_events(lines: DataFrame) -> DataFrame:
    """Parse ``file``/``value`` lines: the event columns, ``ts`` as UTC timestamp_ntz, ``hour``,
    and ``valid`` (False for a line that is not JSON, lacks a required field, has an unknown
    ``event_type`` or an unreadable ``ts``). Blank lines are dropped.

    Needs the session time zone to be UTC (the job sets it) for the ``ts`` conversion.
    """
    parsed = F.from_json(F.col("value"), RAW_SCHEMA)
    ts = parse_ts("e.ts")
    valid = F.coalesce(_valid(F.col("e")) & ts.isNotNull(), F.lit(False))
    return (
        lines.filter(F.length(F.trim(F.col("value"))) > 0)
        .select("file", "value", parsed.alias("e"))
        .select(
            "file",
            # The raw line is kept only where it is needed, for the quarantine: the job persists
            # this frame, and a million valid lines need not be held twice.
            F.when(~valid, F.col("value")).alias("value"),
            *[F.col(f"e.{name}").alias(name) for name in COLUMNS if name != "ts"],
            ts.alias("ts"),
            valid.alias("valid"),
        )
        .withColumn("hour", F.date_trunc("hour", F.col("ts")).cast(T.TimestampNTZType()))
    )


def read_events(spark: SparkSession, paths: Sequence[str]) -> DataFrame:
    """Parse the part files under ``paths`` in one pass; the same columns as ``parse_events``.

    A line that is not JSON (or not an object) keeps its text in ``value``; a line that parses
    but fails the checks is quarantined as its fields re-serialised (its exact text is not kept:
    holding every valid line's text would double what the pass carries).
    """
    if not paths:
        return parse_events(read_lines(spark, paths))
    schema = T.StructType([*RAW_SCHEMA.fields, T.StructField(CORRUPT, T.StringType())])
    raw = (
        spark.read.schema(schema)
        .option("mode", "PERMISSIVE")
        .option("columnNameOfCorruptRecord", CORRUPT)
        .json(list(paths))
    )
    fields = [f.name for f in RAW_SCHEMA.fields]
    ts = parse_ts("ts")
    checks = (
        F.col(CORRUPT).isNull() & _valid(F.struct(*[F.col(n) for n in fields])) & ts.isNotNull()
    )
    valid = F.coalesce(checks, F.lit(False))
    # Not the item lists: the reader then never builds them (nothing downstream reads them).
    kept = [n for n in fields if n != "item_ids"]
    text = F.coalesce(F.col(CORRUPT), F.to_json(F.struct(*[F.col(n) for n in kept])))
    return raw.select(
        # (``input_file_name``: the same path as ``_metadata.file_path``, as a URI, and a
        # fraction of its cost per line)
        F.input_file_name().alias("file"),
        F.when(~valid, text).alias("value"),
        *[F.col(name) for name in COLUMNS if name != "ts"],
        *[F.col(name) for name in EXTRA_COLUMNS],
        ts.alias("ts"),
        valid.alias("valid"),
    ).withColumn("hour", F.date_trunc("hour", F.col("ts")).cast(T.TimestampNTZType()))


def repeated_ids(spark: SparkSession, paths: Sequence[str]) -> tuple[DataFrame, int | None]:
    """The event ids named by more than one line of ``paths`` (any line that names one), as a
    one-column frame, and how many there are (None: too many to take to the driver; the frame
    is then a plan: ``transform.repeated_event_ids``).

    Only ``event_id`` is read from each line: this pass costs a fraction of a full parse. It
    finds every id the copy has to deduplicate, and perhaps a few it need not (a repeated id
    whose other line is malformed); those end as one row of one delivery, as they would anyway.
    """
    schema = T.StructType([T.StructField("event_id", T.StringType())])
    if not paths:
        return spark.createDataFrame([], schema), 0
    ids = spark.read.schema(schema).option("mode", "PERMISSIVE").json(list(paths))
    return repeated_event_ids(ids)


def quarantine(malformed: DataFrame, path: str) -> None:
    """Write malformed lines aside as JSON lines (``file``, ``value``); a rerun replaces them."""
    malformed.coalesce(1).write.mode("overwrite").json(path)
