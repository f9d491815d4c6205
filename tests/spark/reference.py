"""The job's counting rules written plainly, one DataFrame step each: the oracle the job's
fused path (``spark/incremental.py``) is checked against on small hand-built frames.

The job computes the same figures with fewer passes (the impressions stream past broadcast
actions, the sides are reduced by member once); these functions state the rules the way
``docs/parameter-update.md`` does: deduplicate, attribute each action to its impression, count.
"""

from __future__ import annotations

from datetime import datetime

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from services.events.schema import COLUMNS
from spark.extract import EXTRA_COLUMNS
from spark.transform import (
    ATTRIBUTED,
    LATE,
    ORPHAN,
    _impression_columns,
    _ntz,
    _status,
    valid_propensity,
)

KEYS = ["experiment_id", "model_code", "hour"]


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


def actions_of(events: DataFrame) -> DataFrame:
    return events.filter(F.col("event_type") != "impression").select(
        "event_id", "event_type", "request_id", "ts", "experiment_id"
    )


def attribute_actions(
    impressions: DataFrame,
    actions: DataFrame,
    attribution_seconds: int,
    *,
    keep: tuple[str, ...] = (),
    keep_impression: tuple[str, ...] = (),
) -> DataFrame:
    """Each click/order with its impression and a ``status``: attributed, late or orphan.

    Columns: ``event_id``, ``event_type``, ``request_id``, ``experiment_id`` (as logged with the
    action), ``status``, and of the impression ``imp_experiment_id``, ``imp_model_code``,
    ``imp_hour`` (null for an orphan); then the action's columns named in ``keep`` and the
    impression's named in ``keep_impression`` (as ``imp_<name>``).
    """
    imp = _impression_columns(impressions, keep_impression)
    return actions.join(imp, "request_id", "left").select(
        "event_id",
        "event_type",
        "request_id",
        "experiment_id",
        _status(attribution_seconds).alias("status"),
        "imp_experiment_id",
        "imp_model_code",
        "imp_hour",
        *keep,
        *[f"imp_{name}" for name in keep_impression],
    )


def action_quality(attributed: DataFrame, by: tuple[str, ...] = ()) -> DataFrame:
    """Per ``experiment_id`` (as logged with the action) and the columns ``by``: orphan_clicks,
    late_clicks, orphan_orders, late_orders (longs)."""

    def count(kind: str, status: str) -> F.Column:
        hit = (F.col("event_type") == kind) & (F.col("status") == status)
        return F.sum(F.when(hit, 1).otherwise(0)).cast("long")

    return attributed.groupBy(*by, "experiment_id").agg(
        count("click", ORPHAN).alias("orphan_clicks"),
        count("click", LATE).alias("late_clicks"),
        count("order", ORPHAN).alias("orphan_orders"),
        count("order", LATE).alias("late_orders"),
    )


def impression_side(impressions: DataFrame) -> DataFrame:
    """Per experiment, model and hour, what depends on the impressions alone: impressions,
    unique_members, propensity_missing, ipw_weight. Fixed once the hour has been processed."""
    weight = F.when(valid_propensity(), 1.0 / F.col("propensity"))
    return impressions.groupBy(*KEYS).agg(
        F.count(F.lit(1)).cast("long").alias("impressions"),
        F.countDistinct("member_id").cast("long").alias("unique_members"),
        F.sum(F.when(valid_propensity(), 0).otherwise(1)).cast("long").alias("propensity_missing"),
        F.coalesce(F.sum(weight), F.lit(0.0)).cast("double").alias("ipw_weight"),
    )


def click_side(attributed: DataFrame) -> DataFrame:
    """Per impression experiment, model and hour, what later clicks can change: clicks
    (impressions clicked at least once), orders, ipw_clicks. ``attributed`` needs an
    ``imp_propensity`` column."""
    is_click = F.col("event_type") == "click"
    per_impression = (
        attributed.filter(F.col("status") == ATTRIBUTED)
        .groupBy(
            F.col("imp_experiment_id").alias("experiment_id"),
            F.col("imp_model_code").alias("model_code"),
            F.col("imp_hour").alias("hour"),
            "request_id",
        )
        .agg(
            F.max(F.when(is_click, 1).otherwise(0)).alias("clicked"),
            F.sum(F.when(F.col("event_type") == "order", 1).otherwise(0)).alias("orders"),
            F.first("imp_propensity").alias("propensity"),
        )
    )
    weight = F.when(valid_propensity(), 1.0 / F.col("propensity"))
    return per_impression.groupBy(*KEYS).agg(
        F.sum("clicked").cast("long").alias("clicks"),
        F.sum("orders").cast("long").alias("orders"),
        F.coalesce(F.sum(F.when(F.col("clicked") == 1, weight)), F.lit(0.0))
        .cast("double")
        .alias("ipw_clicks"),
    )


def hourly_metrics(impressions: DataFrame, attributed: DataFrame) -> DataFrame:
    """Per ``experiment_id``, ``model_code``, ``hour``: impressions, clicks (impressions clicked
    at least once), orders, unique_members (longs, absent counts 0), and what the estimators
    need: ``propensity_missing`` (impressions without a usable propensity), ``ipw_weight`` (sum
    of 1/propensity over the others) and ``ipw_clicks`` (the same over the clicked ones).

    ``impressions`` needs a ``propensity`` column, ``attributed`` an ``imp_propensity`` one
    (``attribute_actions(..., keep_impression=("propensity",))``). The job computes the two
    sides apart (``impression_side`` once per hour, ``click_side`` whenever clicks arrive).
    """
    return (
        impression_side(impressions)
        .join(click_side(attributed), KEYS, "left")
        .select(
            *KEYS,
            "impressions",
            F.coalesce(F.col("clicks"), F.lit(0)).cast("long").alias("clicks"),
            F.coalesce(F.col("orders"), F.lit(0)).cast("long").alias("orders"),
            "unique_members",
            "propensity_missing",
            "ipw_weight",
            F.coalesce(F.col("ipw_clicks"), F.lit(0.0)).cast("double").alias("ipw_clicks"),
        )
    )


def in_hours(frame: DataFrame, column: str, start: datetime, end: datetime) -> DataFrame:
    """Rows with ``start <= column < end`` (naive UTC bounds)."""
    return frame.filter((F.col(column) >= _ntz(start)) & (F.col(column) < _ntz(end)))


def valid_events(parsed: DataFrame) -> DataFrame:
    types = {"batch_id": "string", "propensity": "double"}
    extra = [
        F.col(n) if n in parsed.columns else F.lit(None).cast(types[n]).alias(n)
        for n in EXTRA_COLUMNS
    ]
    return parsed.filter("valid").select(*COLUMNS, *extra, "hour")


def malformed_lines(parsed: DataFrame) -> DataFrame:
    return parsed.filter(~F.col("valid")).select("file", "value")


def line_counts(parsed: DataFrame) -> DataFrame:
    """``file``, ``valid_lines``, ``malformed_lines`` for every file read (blank lines aside)."""
    valid = F.col("valid")
    return parsed.groupBy("file").agg(
        F.sum(F.when(valid, 1).otherwise(0)).cast("long").alias("valid_lines"),
        F.sum(F.when(valid, 0).otherwise(1)).cast("long").alias("malformed_lines"),
    )
