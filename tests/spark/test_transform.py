"""Each transform against a hand-built expected frame with known answers; the job's fused
attribution against the plain rules (``tests/spark/reference.py``) on the same frames."""

from __future__ import annotations

from datetime import datetime

import pytest
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.testing import assertDataFrameEqual

from spark import extract, incremental, transform
from tests.spark import reference

pytestmark = pytest.mark.spark

H9 = datetime(2026, 11, 28, 9)
H10 = datetime(2026, 11, 28, 10)
EVENT_DDL = (
    "event_id string, event_type string, request_id string, ts timestamp_ntz, "
    "member_id string, area_code string, experiment_id string, model_code string, "
    "item_id string, hour timestamp_ntz"
)


def t(hms: str, day: int = 28) -> datetime:
    h, m, s = (int(x) for x in hms.split(":"))
    return datetime(2026, 11, day, h, m, s)


def ev(event_id, kind, request_id, ts, member="M1", exp="EXP-01", model="A", item=None):
    hour = ts.replace(minute=0, second=0)
    return (event_id, kind, request_id, ts, member, "MAIN", exp, model, item, hour)


@pytest.fixture
def events(spark):
    rows = [
        # r1: shown at 09:59:59, clicked one second later, in the next hour's file.
        ev("r1:i", "impression", "r1", t("09:59:59"), "M1", model="A"),
        ev("r1:c", "click", "r1", t("10:00:00"), "M1", model="A", item="I1"),
        ev("r1:c2", "click", "r1", t("10:00:30"), "M1", model="A", item="I2"),
        ev("r1:o", "order", "r1", t("10:20:00"), "M1", model="A", item="I1"),
        # r2: shown, clicked 1 h 0 min 1 s later: late.
        ev("r2:i", "impression", "r2", t("09:10:00"), "M2", model="B"),
        ev("r2:c", "click", "r2", t("10:10:01"), "M2", model="B"),
        # r3: shown twice to the same member's session (one delivered twice), no click.
        ev("r3:i", "impression", "r3", t("09:30:00"), "M1", model="A"),
        ev("r3:i", "impression", "r3", t("09:30:00"), "M1", model="A"),
        # r4: a click whose impression was never logged.
        ev("r4:c", "click", "r4", t("10:05:00"), "M3", model="B"),
        # r5: shown at 10:00 exactly, clicked exactly one hour later: still in the window.
        ev("r5:i", "impression", "r5", t("10:00:00"), "M3", model="B"),
        ev("r5:c", "click", "r5", t("11:00:00"), "M3", model="B"),
    ]
    return spark.createDataFrame(rows, EVENT_DDL)


def test_read_events_keeps_malformed_lines_and_parses_ts_as_utc(spark, tmp_path):
    good = (
        '{"event_id":"e1","event_type":"click","request_id":"r1","ts":"2026-11-28T09:59:59.500Z",'
        '"member_id":"M1","area_code":"MAIN","experiment_id":"EXP-01","model_code":"A",'
        '"item_id":"I1"}'
    )
    offset = good.replace("e1", "e2").replace("09:59:59.500Z", "11:00:00+01:00")
    served = good.replace('"e1"', '"e3"').replace(
        '"item_id":"I1"}', '"item_id":"I1","batch_id":"20261128T0900","propensity":0.25}'
    )
    f1 = tmp_path / "dt=2026-11-28" / "hour=09" / "part-f1.jsonl"
    f2 = tmp_path / "dt=2026-11-28" / "hour=10" / "part-f2.jsonl"
    f1.parent.mkdir(parents=True)
    f2.parent.mkdir(parents=True)
    f1.write_text("\n".join([good, offset, good[:40], "   ", served]) + "\n")
    f2.write_text(
        "\n".join(
            [
                good.replace('"click"', '"hover"'),
                good.replace('"request_id":"r1",', ""),
                good.replace("2026-11-28T09:59:59.500Z", "noon"),
                # a number is not an ISO-8601 time (a reader typed for times takes epoch seconds)
                good.replace('"2026-11-28T09:59:59.500Z"', "1764320399"),
                # a time without a date is not one either (Spark alone would date it today)
                good.replace("2026-11-28T09:59:59.500Z", "09:59:59.500Z"),
                good.replace("2026-11-28T09:59:59.500Z", "09:59:59+01:00"),
            ]
        )
        + "\n"
    )

    parsed = extract.read_events(spark, [str(f1.parent), str(f2.parent)])

    row = ("click", "r1")
    tail = ("M1", "MAIN", "EXP-01", "A", "I1")
    expected_events = spark.createDataFrame(
        [
            ("e1", *row, datetime(2026, 11, 28, 9, 59, 59, 500000), *tail, None, None, H9),
            ("e2", *row, datetime(2026, 11, 28, 10, 0, 0), *tail, None, None, H10),
            (
                "e3",
                *row,
                datetime(2026, 11, 28, 9, 59, 59, 500000),
                *tail,
                "20261128T0900",
                0.25,
                H9,
            ),
        ],
        EVENT_DDL.replace(", hour", ", batch_id string, propensity double, hour"),
    )
    assertDataFrameEqual(reference.valid_events(parsed), expected_events)
    counts = reference.line_counts(parsed).withColumn(
        "file", F.regexp_extract("file", r"(part-f\d)", 1)
    )
    assertDataFrameEqual(
        counts,
        spark.createDataFrame(
            [("part-f1", 3, 1), ("part-f2", 0, 6)],
            "file string, valid_lines long, malformed_lines long",
        ),
    )
    # The quarantine holds the text of a line that is not JSON.
    bad = {r["value"] for r in reference.malformed_lines(parsed).collect()}
    assert good[:40] in bad and len(bad) == 7


def test_drop_duplicate_events_keeps_one_row_per_event_id(spark, events):
    out = reference.drop_duplicate_events(events).select("event_id").orderBy("event_id")
    expected = spark.createDataFrame(
        [
            (e,)
            for e in [
                "r1:c",
                "r1:c2",
                "r1:i",
                "r1:o",
                "r2:c",
                "r2:i",
                "r3:i",
                "r4:c",
                "r5:c",
                "r5:i",
            ]
        ],
        "event_id string",
    )
    assertDataFrameEqual(out, expected)
    assertDataFrameEqual(
        reference.duplicate_counts(events),
        spark.createDataFrame([("EXP-01", 1)], "experiment_id string, duplicate_events long"),
    )


def test_both_deduplications_keep_each_event_once_with_its_copies(spark, events):
    for dedup in (transform.deduplicate_with_copies, transform.deduplicate_rare):
        out = dedup(events)
        assert out.count() == 10
        assert {r["event_id"]: r["copies"] for r in out.collect() if r["copies"] > 1} == {"r3:i": 2}
        # the kept row is the event itself
        assertDataFrameEqual(
            out.drop("copies").select(*events.columns), events.dropDuplicates(["event_id"])
        )


def test_repeated_ids_are_counted_in_one_job_and_the_session_is_left_as_it_was(spark, events):
    # A take would ask one partition first and the others in a second job.
    key = "spark.sql.limit.initialNumPartitions"
    before = spark.conf.get(key)
    tracker = spark.sparkContext.statusTracker()
    spark.sparkContext.setJobGroup("repeated-ids", "repeated ids")
    try:
        frame, n = transform.repeated_event_ids(events.repartition(3))
    finally:
        spark.sparkContext.setLocalProperty("spark.jobGroup.id", None)  # type: ignore[arg-type]
    assert (n, [r["event_id"] for r in frame.collect()]) == (1, ["r3:i"])
    assert len(tracker.getJobIdsForGroup("repeated-ids")) == 1
    assert spark.conf.get(key) == before


def test_attribute_actions_across_the_hour_boundary(spark, events):
    unique = reference.drop_duplicate_events(events)
    out = reference.attribute_actions(
        transform.impressions_of(unique), reference.actions_of(unique), 3600
    )
    expected = spark.createDataFrame(
        [
            ("r1:c", "click", "r1", "EXP-01", "attributed", "EXP-01", "A", H9),
            ("r1:c2", "click", "r1", "EXP-01", "attributed", "EXP-01", "A", H9),
            ("r1:o", "order", "r1", "EXP-01", "attributed", "EXP-01", "A", H9),
            ("r2:c", "click", "r2", "EXP-01", "late", "EXP-01", "B", H9),
            ("r4:c", "click", "r4", "EXP-01", "orphan", None, None, None),
            ("r5:c", "click", "r5", "EXP-01", "attributed", "EXP-01", "B", H10),
        ],
        "event_id string, event_type string, request_id string, experiment_id string, "
        "status string, imp_experiment_id string, imp_model_code string, "
        "imp_hour timestamp_ntz",
    )
    assertDataFrameEqual(out, expected)


def _job_attribution(unique, attribution_seconds):
    """The job's own attribution (``incremental._attribute``) of every hour of ``unique``: its
    credited clicks per (experiment, model, hour) and its action quality per experiment."""
    for name, kind in (("batch_id", "string"), ("propensity", "double")):
        if name not in unique.columns:
            unique = unique.withColumn(name, F.lit(None).cast(kind))
    impressions = transform.impressions_of(unique, extra=("batch_id", "propensity"))
    actions = unique.filter(F.col("event_type") != "impression").select(
        "event_id", "event_type", "request_id", "ts", "experiment_id", F.col("hour").alias("at")
    )
    hours = sorted(r["hour"] for r in unique.select("hour").distinct().collect())
    clicks, by_hour = incremental._attribute(
        impressions, actions, attribution_seconds, processed=hours, imp_hours=hours
    )
    quality: dict[str, dict[str, int]] = {}
    for (_, experiment_id), counts in by_hour.items():
        q = quality.setdefault(experiment_id, dict.fromkeys(counts, 0))
        for name, n in counts.items():
            q[name] += n
    return clicks, quality


def _credited(hourly) -> dict:
    return {
        (r["experiment_id"], r["model_code"], r["hour"]): (
            r["clicks"],
            r["orders"],
            pytest.approx(r["ipw_clicks"]),
        )
        for r in hourly.collect()
        if r["clicks"] or r["orders"]
    }


def _quality(frame) -> dict:
    rows = [r.asDict() for r in frame.collect()]
    return {r.pop("experiment_id"): r for r in rows}


def test_hourly_metrics_and_action_quality(spark, events):
    # r1 served under batch b1 with propensity 0.5, r3 with 0.25; r2 logged none, r5 an
    # impossible 2.0 (both count as missing).
    logged = {"r1": ("b1", 0.5), "r3": (None, 0.25), "r5": (None, 2.0)}
    served = spark.createDataFrame(
        [(k, b, p) for k, (b, p) in logged.items()],
        "request_id string, batch_id string, propensity double",
    )
    unique = reference.drop_duplicate_events(events).join(served, "request_id", "left")
    impressions = transform.impressions_of(unique, extra=("batch_id", "propensity"))
    attributed = reference.attribute_actions(
        impressions, reference.actions_of(unique), 3600, keep_impression=("propensity",)
    )

    expected_hourly = spark.createDataFrame(
        [
            # r1 (clicked twice: one clicked impression, one order) and r3, both by M1.
            ("EXP-01", "A", H9, 2, 1, 1, 1, 0, 1 / 0.5 + 1 / 0.25, 1 / 0.5),
            # r2: its click came too late.
            ("EXP-01", "B", H9, 1, 0, 0, 1, 1, 0.0, 0.0),
            ("EXP-01", "B", H10, 1, 1, 0, 1, 1, 0.0, 0.0),
        ],
        "experiment_id string, model_code string, hour timestamp_ntz, impressions long, "
        "clicks long, orders long, unique_members long, propensity_missing long, "
        "ipw_weight double, ipw_clicks double",
    )
    hourly = reference.hourly_metrics(impressions, attributed)
    assertDataFrameEqual(hourly, expected_hourly)
    assertDataFrameEqual(
        transform.batch_figures(impressions).drop("propensity_missing", "ipw_weight"),
        spark.createDataFrame(
            [
                ("EXP-01", "A", H9, "b1", 1),
                ("EXP-01", "A", H9, "unknown", 1),
                ("EXP-01", "B", H9, "unknown", 1),
                ("EXP-01", "B", H10, "unknown", 1),
            ],
            "experiment_id string, model_code string, hour timestamp_ntz, batch_id string, "
            "impressions long",
        ),
    )
    assertDataFrameEqual(
        reference.action_quality(attributed),
        spark.createDataFrame(
            [("EXP-01", 1, 1, 0, 0)],
            "experiment_id string, orphan_clicks long, late_clicks long, orphan_orders long, "
            "late_orders long",
        ),
    )
    # The job's fused attribution gives the same clicks, orders, weights and quality.
    clicks, quality = _job_attribution(unique, 3600)
    job = {k: (v["clicks"], v["orders"], v["ipw_clicks"]) for k, v in clicks.items()}
    assert job == _credited(hourly)
    assert quality == _quality(reference.action_quality(attributed))


def test_a_shorter_attribution_window_makes_the_order_late(spark, events):
    unique = reference.drop_duplicate_events(events)
    attributed = reference.attribute_actions(
        transform.impressions_of(unique), reference.actions_of(unique), 600
    )
    quality = reference.action_quality(attributed)
    assert _job_attribution(unique, 600)[1] == _quality(quality)
    assertDataFrameEqual(
        quality,
        spark.createDataFrame(
            [("EXP-01", 1, 2, 0, 1)],
            "experiment_id string, orphan_clicks long, late_clicks long, orphan_orders long, "
            "late_orders long",
        ),
    )


def test_in_hours_keeps_the_start_and_drops_the_end(spark, events):
    out = reference.in_hours(events, "hour", H10, datetime(2026, 11, 28, 11))
    assert sorted(r["event_id"] for r in out.collect()) == [
        "r1:c",
        "r1:c2",
        "r1:o",
        "r2:c",
        "r4:c",
        "r5:i",
    ]
    assert isinstance(events.schema["ts"].dataType, T.TimestampNTZType)


def test_first_views_count_each_member_and_batch_once_per_hour(spark):
    # GIVEN impressions of draw-mode answers, some repeated by the answer cache (same member
    # and batch), one member's later draw under the same batch, one whose cached answer
    # outlives the hour, and one impression without a batch id
    rows = [
        # member, area, batch, model, time
        ("M1", "MAIN", "b1", "A", "10:01:00"),
        ("M1", "MAIN", "b1", "A", "10:02:00"),  # cache hit of the same draw
        ("M1", "MAIN", "b1", "B", "10:30:00"),  # a later draw under the same batch: not counted
        ("M4", "MAIN", "b1", "B", "10:03:00"),
        ("M2", "MAIN", "b1", "B", "10:05:00"),
        ("M2", "MAIN", "b2", "A", "10:40:00"),  # the next batch: a new draw
        ("M3", "MAIN", None, "A", "10:10:00"),
        ("M3", "MAIN", "b1", "B", "11:00:30"),  # next hour, counted there
        ("M5", "MAIN", "b2", "B", "10:20:00"),  # two answers in the same millisecond:
        ("M5", "MAIN", "b2", "A", "10:20:00"),  # the smaller model code is the first
    ]
    schema = (
        "experiment_id string, member_id string, area_code string, batch_id string,"
        " model_code string, request_id string, ts timestamp_ntz"
    )
    frame = spark.createDataFrame(
        [("EXP-01", m, a, b, model, f"r{i}", t(ts)) for i, (m, a, b, model, ts) in enumerate(rows)],
        schema,
    ).withColumn("hour", F.date_trunc("hour", "ts").cast(T.TimestampNTZType()))
    # WHEN counted
    got = {
        (r["model_code"], r["hour"].hour, r["batch_id"]): r["first_views"]
        for r in transform.first_views_of(
            transform.member_views(
                frame, transform.ViewKeys.of(("EXP-01", model, b) for _, _, b, model, _ in rows)
            )
        ).collect()
    }
    # THEN each member's first view per area, batch and hour, under the model it showed
    assert got == {
        ("A", 10, "b1"): 1,  # M1 MAIN
        ("B", 10, "b1"): 2,  # M4, M2
        ("A", 10, "b2"): 2,  # M2, M5
        ("A", 10, "unknown"): 1,  # M3
        ("B", 11, "b1"): 1,  # M3 in the next hour
    }


def test_member_views_take_an_experiment_with_junk_model_codes(spark):
    # GIVEN an experiment whose logs name more model codes than the packing holds (junk), each
    # shown to its own member, and one member who saw two of them a minute apart
    codes = [f"M{i:05d}" for i in range(transform.PACKED_MODELS + 10)]
    rows = [("EXP-01", f"U{i}", "b1", code, t("10:05:00")) for i, code in enumerate(codes)]
    rows.append(("EXP-01", "U0", "b1", codes[1], t("10:06:00")))
    frame = spark.createDataFrame(
        rows,
        "experiment_id string, member_id string, batch_id string, model_code string, "
        "ts timestamp_ntz",
    ).withColumn("hour", F.date_trunc("hour", "ts").cast(T.TimestampNTZType()))
    # WHEN reduced by member (the places packed modulo PACKED_MODELS) and counted
    views = transform.member_views(
        frame, transform.ViewKeys.of((e, m, b) for e, _, b, m, _ in rows)
    )
    first = {r["model_code"]: r["first_views"] for r in transform.first_views_of(views).collect()}
    unique = {
        r["model_code"]: r["unique_members"] for r in transform.unique_members_of(views).collect()
    }
    earliest = {r["member"]: r for r in transform.earliest_of(views).collect()}
    # THEN every member's first view is its own code's, U0 counts under both codes it saw, and
    # its earliest impression is the first one
    assert first == dict.fromkeys(codes, 1)
    assert unique == {**dict.fromkeys(codes, 1), codes[1]: 2}
    assert len(earliest) == len(codes)
    u0 = [r for r in earliest.values() if r["model_code"] == codes[0]]
    assert len(u0) == 1 and u0[0]["ts"] == t("10:05:00")


def test_member_views_of_no_impressions_count_nothing(spark):
    # GIVEN an hour that holds no impression (only clicks came, or only malformed lines)
    frame = spark.createDataFrame(
        [],
        "experiment_id string, member_id string, batch_id string, model_code string, "
        "ts timestamp_ntz, hour timestamp_ntz",
    )
    # WHEN reduced by member with no keys and counted
    views = transform.member_views(frame, transform.ViewKeys.of([]))
    # THEN every count is empty, with the columns the job reads
    first = transform.first_views_of(views)
    unique = transform.unique_members_of(views)
    earliest = transform.earliest_of(views)
    assert first.collect() == [] and unique.collect() == [] and earliest.collect() == []
    assert {"experiment_id", "model_code", "batch_id"} <= set(first.columns)
    assert dict(earliest.dtypes)["model_code"] == "string"
