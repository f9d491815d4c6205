"""Transform: pure DataFrame functions from parsed events to hourly counts and data quality.

No paths, no I/O: each function takes DataFrames and returns one, so each is tested on small
hand-built frames (the same rules written plainly, one step each, are the tests' oracle:
``tests/spark/reference.py``).

Attribution: a click or an order belongs to the impression with its ``request_id``. It counts for
the impression's experiment, model and *hour* when it follows the impression by at most the
attribution window, whichever hour's file it was logged in. A click that arrives later is
*late* (counted, not credited); one whose impression is nowhere in the data read is an *orphan*.
An action logged slightly before its impression (clocks of different servers) still joins:
the ``request_id`` is authoritative.

A clicked impression counts once however many clicks it got (clicks <= impressions always, so
``beta = impressions - clicks`` is the impressions without a click); orders count one by one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from services.hourly_metrics import UNKNOWN_BATCH

ATTRIBUTED = "attributed"
LATE = "late"
ORPHAN = "orphan"


def deduplicate_with_copies(events: DataFrame) -> DataFrame:
    """One row per ``event_id`` and ``copies``, how many times it was delivered (one shuffle
    gives both the events and the duplicate counts)."""
    columns = [c for c in events.columns if c != "event_id"]
    return events.groupBy("event_id").agg(
        *[F.first(c).alias(c) for c in columns], F.count(F.lit(1)).cast("long").alias("copies")
    )


#: How many repeated ids ``deduplicate_rare`` takes to the driver (beyond that, a plan).
REPEATS_ON_DRIVER = 200_000
_TAKE_PARTITIONS = "spark.sql.limit.initialNumPartitions"


def repeated_event_ids(events: DataFrame) -> tuple[DataFrame, int | None]:
    """The ``event_id`` values of more than one row of ``events``, as a one-column frame, and how
    many there are. Taken to the driver when they are at most ``REPEATS_ON_DRIVER`` (the count
    over every id then runs once, however often the frame is used); beyond that, the frame is
    the plan and the count None."""
    # Moved by id before counting: the ids are nearly all distinct, so counting them in each
    # task first (Spark's partial aggregation) would build a map of every id only to send it on.
    repeated = (
        events.filter(F.col("event_id").isNotNull())
        .repartition("event_id")
        .groupBy("event_id")
        .agg(F.count(F.lit(1)).alias("n"))
        .filter(F.col("n") > 1)
        .select("event_id")
    )
    # A take tries one partition first, then more, a job each: every partition has to be
    # counted anyway, so all are asked at once: one job, every core busy.
    spark = events.sparkSession
    before = spark.conf.get(_TAKE_PARTITIONS)
    spark.conf.set(_TAKE_PARTITIONS, spark.conf.get("spark.sql.shuffle.partitions"))
    try:
        few = repeated.limit(REPEATS_ON_DRIVER + 1).collect()
    finally:
        spark.conf.set(_TAKE_PARTITIONS, before)
    if len(few) > REPEATS_ON_DRIVER:
        return repeated, None
    rows = [(r["event_id"],) for r in few]
    return spark.createDataFrame(rows, "event_id string"), len(few)


def deduplicate_rare(events: DataFrame) -> DataFrame:
    """``deduplicate_with_copies`` for data where repeats are rare: only the ids seen more than
    once are shuffled with their rows; the rest pass through a broadcast anti-join. Counting ids
    moves one column, where grouping whole rows shuffles and sorts every row."""
    repeated, _ = repeated_event_ids(events)
    single = events.join(F.broadcast(repeated), "event_id", "left_anti")
    multiple = deduplicate_with_copies(events.join(F.broadcast(repeated), "event_id", "left_semi"))
    return single.withColumn("copies", F.lit(1).cast("long")).unionByName(multiple)


def impressions_of(events: DataFrame, extra: tuple[str, ...] = ()) -> DataFrame:
    return events.filter(F.col("event_type") == "impression").select(
        "request_id", "ts", "hour", "member_id", "experiment_id", "model_code", *extra
    )


def _impression_columns(impressions: DataFrame, keep_impression: tuple[str, ...]) -> DataFrame:
    return impressions.select(
        "request_id",
        F.col("ts").alias("imp_ts"),
        F.col("experiment_id").alias("imp_experiment_id"),
        F.col("model_code").alias("imp_model_code"),
        F.col("hour").alias("imp_hour"),
        *[F.col(name).alias(f"imp_{name}") for name in keep_impression],
    )


def _status(attribution_seconds: int) -> F.Column:
    window_end = F.col("imp_ts") + F.make_dt_interval(secs=F.lit(attribution_seconds))
    return (
        F.when(F.col("imp_ts").isNull(), F.lit(ORPHAN))
        .when(F.col("ts") > window_end, F.lit(LATE))
        .otherwise(F.lit(ATTRIBUTED))
    )


def attributed_pairs(
    impressions: DataFrame,
    actions: DataFrame,
    attribution_seconds: int,
    keep_impression: tuple[str, ...] = ("propensity",),
) -> DataFrame:
    """Each action of ``actions`` that has an impression (by ``request_id``), with every column
    of ``actions``, a ``status`` (*attributed*: at most ``attribution_seconds`` after the
    impression, else *late*) and the impression's ``imp_experiment_id``, ``imp_model_code``,
    ``imp_hour`` and ``imp_<name>`` for ``keep_impression``. An inner join, so that a small
    (broadcast) ``actions`` lets the impressions stream past it; the orphans are the actions in
    no pair."""
    imp = _impression_columns(impressions, keep_impression)
    return imp.join(actions, "request_id", "inner").select(
        *actions.columns,
        _status(attribution_seconds).alias("status"),
        "imp_experiment_id",
        "imp_model_code",
        "imp_hour",
        *[f"imp_{name}" for name in keep_impression],
    )


def valid_propensity(column: str = "propensity") -> F.Column:
    """A logged propensity usable as an inverse weight: within (0, 1]."""
    p = F.col(column)
    return p.isNotNull() & (p > 0) & (p <= 1)


def batch_figures(impressions: DataFrame) -> DataFrame:
    """Per experiment, model, hour and ``batch_id`` (``unknown`` when not logged): impressions,
    propensity_missing (impressions without a usable propensity), ipw_weight (the sum of
    1/propensity over the others)."""
    batch = F.coalesce(F.col("batch_id"), F.lit(UNKNOWN_BATCH))
    weight = F.when(valid_propensity(), 1.0 / F.col("propensity"))
    return impressions.groupBy("experiment_id", "model_code", "hour", batch.alias("batch_id")).agg(
        F.count(F.lit(1)).cast("long").alias("impressions"),
        F.sum(F.when(valid_propensity(), 0).otherwise(1)).cast("long").alias("propensity_missing"),
        F.coalesce(F.sum(weight), F.lit(0.0)).cast("double").alias("ipw_weight"),
    )


#: Model places ``member_views`` packs beside a time (10 bits).
PACKED_MODELS = 1024


@dataclass(frozen=True)
class ViewKeys:
    """The strings ``member_views`` groups by, numbered: its rows carry small integers, which
    move and hash faster than the codes and ids they stand for.

    ``models``: every (experiment, model code) pair, sorted; a pair's number is its index. A
    model's *place* is its index among its experiment's codes (the codes sorted), so the order
    of places is the order of the codes. ``batches``: every batch id, sorted (``unknown`` for an
    impression that names none).
    """

    models: tuple[tuple[str, str], ...]
    batches: tuple[str, ...]

    @classmethod
    def of(cls, keys: Iterable[tuple[str, str, str | None]]) -> ViewKeys:
        """From the (experiment, model code, batch id) of every impression to be reduced."""
        models, batches = set(), set()
        for experiment_id, model_code, batch_id in keys:
            models.add((experiment_id, model_code))
            batches.add(batch_id if batch_id is not None else UNKNOWN_BATCH)
        return cls(tuple(sorted(models)), tuple(sorted(batches)))

    @property
    def experiments(self) -> tuple[str, ...]:
        return tuple(sorted({e for e, _ in self.models}))

    @property
    def experiment_index(self) -> dict[str, int]:
        """Each experiment's number."""
        return {e: k for k, e in enumerate(self.experiments)}

    def experiment_numbers(self, experiment_ids: Iterable[str]) -> list[int]:
        index = self.experiment_index
        return [index[e] for e in experiment_ids if e in index]

    def decoded(self, frame: DataFrame) -> DataFrame:
        """``frame`` with its numbered columns named again: ``model`` as ``experiment_id`` and
        ``model_code``, ``batch`` as ``batch_id``."""
        models = _literal_map(enumerate(m for _, m in self.models), "int", "string")
        owners = _literal_map(enumerate(e for e, _ in self.models), "int", "string")
        out = frame.withColumn("model_code", models[F.col("model")]).withColumn(
            "experiment_id", owners[F.col("model")]
        )
        if "batch" in frame.columns:
            batches = _literal_map(enumerate(self.batches), "int", "string")
            out = out.withColumn("batch_id", batches[F.col("batch")])
        return out.drop("model", "batch", "experiment")


@dataclass(frozen=True)
class MemberViews:
    """``member_views``: the frame and the keys its numbers stand for."""

    frame: DataFrame
    keys: ViewKeys

    def filter(self, condition: F.Column) -> MemberViews:
        return MemberViews(self.frame.filter(condition), self.keys)

    def persist(self) -> MemberViews:
        return MemberViews(self.frame.persist(StorageLevel.MEMORY_AND_DISK), self.keys)

    def unpersist(self) -> None:
        self.frame.unpersist()


def _literal_map(pairs: Iterable[tuple[object, object]], key: str, value: str) -> F.Column:
    """A map of literal ``pairs``, typed ``map<key, value>`` even when empty."""
    entries = [x for k, v in pairs for x in (F.lit(k), F.lit(v))]
    return F.create_map(*entries).cast(f"map<{key},{value}>")


def member_views(impressions: DataFrame, keys: ViewKeys, by: tuple[str, ...] = ()) -> MemberViews:
    """Every member's impressions reduced to one row per experiment, hour, member, batch and
    model (and the columns ``by``), with the earliest as one number.

    Columns: ``experiment`` (its number in ``keys.experiments``), ``hour``, ``member``
    (xxHash64 of ``member_id``), ``batch`` and ``model`` (numbers in ``keys``), ``by``, and
    ``first``: the earliest time in microseconds times ``PACKED_MODELS`` plus the model's place
    in its experiment. The minimum of ``first`` orders impressions by time, then model code, as
    one number: a hash aggregation, where the minimum of a (time, model) pair makes Spark sort
    every row. Members are told apart by the 64-bit hash, as the member state does: two members
    of one hour share one with a chance of about n^2 / 2^65 (3e-8 for a million).

    ``keys``: the (experiment, model, batch) of every impression (``ViewKeys.of``). An
    experiment with more than ``PACKED_MODELS`` model codes (only junk in the logs makes that
    many) packs its places modulo that: two of its impressions in the same microsecond then go
    to a fixed but arbitrary one. The first views, the unique members and the members' earliest
    impressions are all counted from this frame (``first_views_of``, ``unique_members_of``,
    ``earliest_of``): the impressions are grouped by member once.
    """
    pair = F.concat_ws("\n", "experiment_id", "model_code")
    starts: dict[str, int] = {}
    for k, (e, _) in enumerate(keys.models):
        starts.setdefault(e, k)
    numbers = ((f"{e}\n{m}", k) for k, (e, m) in enumerate(keys.models))
    model = _literal_map(numbers, "string", "int")[pair]
    place = model - _literal_map(starts.items(), "string", "int")[F.col("experiment_id")]
    batch = _literal_map(((b, k) for k, b in enumerate(keys.batches)), "string", "int")[
        F.coalesce(F.col("batch_id"), F.lit(UNKNOWN_BATCH))
    ]
    # The time (timestamp_ntz) read in the session's zone, UTC in the job: the order is kept.
    micros = F.unix_micros(F.col("ts").cast("timestamp"))
    numbered = impressions.select(
        _literal_map(keys.experiment_index.items(), "string", "int")[F.col("experiment_id")].alias(
            "experiment"
        ),
        "hour",
        F.xxhash64("member_id").alias("member"),
        batch.alias("batch"),
        model.alias("model"),
        *by,
        (micros * PACKED_MODELS + F.pmod(place, F.lit(PACKED_MODELS))).alias("first"),
    )
    # Moved once, by member: every count from these rows groups by the member and more, so
    # none of them moves the rows again.
    frame = (
        numbered.repartition("experiment", "member")
        .groupBy("experiment", "hour", "member", "batch", "model", *by)
        .agg(F.min("first").alias("first"))
    )
    return MemberViews(frame, keys)


def first_views_of(views: MemberViews) -> DataFrame:
    """Per experiment, model, hour and ``batch_id``: each member's first impression under each
    batch (``first_views``), from ``member_views``.

    A draw-mode selector draws once per cache miss, and API Gateway serves that answer, with its
    batch id, to the member's later views in the area for up to its TTL. An experiment lives in
    one area, so a member's first impression under a batch is always a fresh draw from that
    batch's weights, independent of every other member's: the draw-mode SRM counts these instead
    of the clustered impressions. Counted per hour, so a member active across an hour's end
    under one batch counts in both. Two first impressions in the same microsecond: the smaller
    model code is the first (as for a member's first assignment).
    """
    # Equal ``first`` values are the same time and model (but for an experiment of more than
    # PACKED_MODELS codes): the model of the least is certain.
    first = views.frame.groupBy("experiment", "member", "hour", "batch").agg(
        F.min_by("model", "first").alias("model")
    )
    counts = first.groupBy("model", "hour", "batch").agg(
        F.count(F.lit(1)).cast("long").alias("first_views")
    )
    return views.keys.decoded(counts)


def unique_members_of(views: MemberViews) -> DataFrame:
    """Per experiment, model and hour: the distinct members (``unique_members``), from
    ``member_views``."""
    members = views.frame.groupBy("experiment", "model", "hour", "member").agg(
        F.count(F.lit(1)).alias("n")
    )
    counts = members.groupBy("model", "hour").agg(
        F.count(F.lit(1)).cast("long").alias("unique_members")
    )
    return views.keys.decoded(counts)


def earliest_of(views: MemberViews) -> DataFrame:
    """Per experiment and member of ``member_views``, its earliest impression: ``ts``,
    ``hour``, ``model_code``, ``batch_id``. Ties in time go to the smaller model code, then the
    smaller batch id."""
    first = views.frame.groupBy("experiment", "member").agg(
        F.min(F.struct("first", "batch", "model", "hour")).alias("e")
    )
    micros = F.floor(F.col("e.first") / PACKED_MODELS)
    earliest = first.select(
        "member",
        F.timestamp_micros(micros).cast("timestamp_ntz").alias("ts"),
        "e.hour",
        "e.model",
        "e.batch",
    )
    return views.keys.decoded(earliest)


def _ntz(moment: datetime) -> F.Column:
    # Through a string: a Python datetime literal would be shifted by the process's time zone.
    return F.lit(moment.strftime("%Y-%m-%d %H:%M:%S")).cast("timestamp_ntz")
