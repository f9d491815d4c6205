"""Transform: pure DataFrame functions from parsed events to hourly counts and data quality.

No paths, no I/O: each function takes DataFrames and returns one, so each is tested on small
hand-built frames.

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

from datetime import datetime

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

ATTRIBUTED = "attributed"
LATE = "late"
ORPHAN = "orphan"


def drop_duplicate_events(events: DataFrame) -> DataFrame:
    """One row per ``event_id``: a repeated id is the same event delivered twice."""
    return events.dropDuplicates(["event_id"])


def duplicate_counts(events: DataFrame) -> DataFrame:
    """``experiment_id``, ``duplicate_events``: rows beyond the first of each ``event_id``."""
    return (
        events.groupBy("experiment_id", "event_id")
        .agg(F.count(F.lit(1)).alias("n"))
        .filter(F.col("n") > 1)
        .groupBy("experiment_id")
        .agg(F.sum(F.col("n") - 1).cast("long").alias("duplicate_events"))
    )


def impressions_of(events: DataFrame) -> DataFrame:
    return events.filter(F.col("event_type") == "impression").select(
        "request_id", "ts", "hour", "member_id", "experiment_id", "model_code"
    )


def actions_of(events: DataFrame) -> DataFrame:
    return events.filter(F.col("event_type") != "impression").select(
        "event_id", "event_type", "request_id", "ts", "experiment_id"
    )


def attribute_actions(
    impressions: DataFrame, actions: DataFrame, attribution_seconds: int
) -> DataFrame:
    """Each click/order with its impression and a ``status``: attributed, late or orphan.

    Columns: ``event_id``, ``event_type``, ``request_id``, ``experiment_id`` (as logged with the
    action), ``status``, and of the impression ``imp_experiment_id``, ``imp_model_code``,
    ``imp_hour`` (null for an orphan).
    """
    imp = impressions.select(
        "request_id",
        F.col("ts").alias("imp_ts"),
        F.col("experiment_id").alias("imp_experiment_id"),
        F.col("model_code").alias("imp_model_code"),
        F.col("hour").alias("imp_hour"),
    )
    window_end = F.col("imp_ts") + F.make_dt_interval(secs=F.lit(attribution_seconds))
    status = (
        F.when(F.col("imp_ts").isNull(), F.lit(ORPHAN))
        .when(F.col("ts") > window_end, F.lit(LATE))
        .otherwise(F.lit(ATTRIBUTED))
    )
    return actions.join(imp, "request_id", "left").select(
        "event_id",
        "event_type",
        "request_id",
        "experiment_id",
        status.alias("status"),
        "imp_experiment_id",
        "imp_model_code",
        "imp_hour",
    )


def hourly_metrics(impressions: DataFrame, attributed: DataFrame) -> DataFrame:
    """Per ``experiment_id``, ``model_code``, ``hour``: impressions, clicks (impressions clicked
    at least once), orders, unique_members; every count a long, absent counts 0."""
    keys = ["experiment_id", "model_code", "hour"]
    shown = impressions.groupBy(*keys).agg(
        F.count(F.lit(1)).alias("impressions"),
        F.countDistinct("member_id").alias("unique_members"),
    )
    credited = (
        attributed.filter(F.col("status") == ATTRIBUTED)
        .select(
            F.col("imp_experiment_id").alias("experiment_id"),
            F.col("imp_model_code").alias("model_code"),
            F.col("imp_hour").alias("hour"),
            "event_type",
            "request_id",
        )
        .groupBy(*keys)
        .agg(
            F.countDistinct(F.when(F.col("event_type") == "click", F.col("request_id"))).alias(
                "clicks"
            ),
            F.sum(F.when(F.col("event_type") == "order", 1).otherwise(0)).alias("orders"),
        )
    )
    return shown.join(credited, keys, "left").select(
        *keys,
        F.col("impressions").cast("long"),
        F.coalesce(F.col("clicks"), F.lit(0)).cast("long").alias("clicks"),
        F.coalesce(F.col("orders"), F.lit(0)).cast("long").alias("orders"),
        F.col("unique_members").cast("long"),
    )


def action_quality(attributed: DataFrame) -> DataFrame:
    """Per ``experiment_id`` (as logged with the action): orphan_clicks, late_clicks,
    orphan_orders, late_orders (longs)."""

    def count(kind: str, status: str) -> F.Column:
        hit = (F.col("event_type") == kind) & (F.col("status") == status)
        return F.sum(F.when(hit, 1).otherwise(0)).cast("long")

    return attributed.groupBy("experiment_id").agg(
        count("click", ORPHAN).alias("orphan_clicks"),
        count("click", LATE).alias("late_clicks"),
        count("order", ORPHAN).alias("orphan_orders"),
        count("order", LATE).alias("late_orders"),
    )


def in_hours(frame: DataFrame, column: str, start: datetime, end: datetime) -> DataFrame:
    """Rows with ``start <= column < end`` (naive UTC bounds)."""
    return frame.filter((F.col(column) >= _ntz(start)) & (F.col(column) < _ntz(end)))


def _ntz(moment: datetime) -> F.Column:
    # Through a string: a Python datetime literal would be shifted by the process's time zone.
    return F.lit(moment.strftime("%Y-%m-%d %H:%M:%S")).cast("timestamp_ntz")
