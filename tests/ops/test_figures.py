"""Pure arithmetic of the operations figures: ratios, alignment, parsing and counting lines."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta, timezone

import pytest

from services.exceptions import ValidationError
from services.ops.figures import (
    ApiPeriod,
    ModelCount,
    Selection,
    align_window,
    api_totals,
    count_selections,
    hit_ratio,
    parse_selection,
    served_per_model,
)

T0 = datetime(2026, 11, 28, 9, 0)


def test_hit_ratio_is_hits_over_lookups():
    assert hit_ratio(3, 1) == 0.75
    assert hit_ratio(0, 5) == 0.0
    assert hit_ratio(2.0, 2.0) == 0.5


def test_no_cache_traffic_has_no_ratio_not_a_division_error():
    assert hit_ratio(0, 0) is None
    assert ApiPeriod(T0).hit_ratio is None


@pytest.mark.parametrize(
    ("hits", "misses", "field"),
    [
        (-1, 0, "hits"),
        (0, -2, "misses"),
        (math.nan, 1, "hits"),
        (1, math.inf, "misses"),
        ("3", 1, "hits"),
        (True, 1, "hits"),
    ],
)
def test_hit_ratio_rejects_bad_counts(hits, misses, field):
    with pytest.raises(ValidationError) as info:
        hit_ratio(hits, misses)
    assert info.value.field == field


def test_overall_ratio_weighs_by_traffic_not_by_period():
    busy = ApiPeriod(T0, requests=100, cache_hits=90, cache_misses=10, latency_avg_ms=10.0)
    quiet = ApiPeriod(
        T0 + timedelta(hours=1),
        requests=10,
        cache_hits=0,
        cache_misses=10,
        latency_avg_ms=32.0,
        errors_5xx=1,
    )
    totals = api_totals([busy, quiet])
    assert totals.hit_ratio == pytest.approx(90 / 110)  # the mean of ratios would be 0.45
    assert totals.latency_avg_ms == pytest.approx((100 * 10 + 10 * 32) / 110)
    assert (totals.requests, totals.errors_5xx) == (110, 1)
    assert api_totals([]).hit_ratio is None and api_totals([]).latency_avg_ms is None


def test_window_is_widened_to_whole_hours():
    start, end = align_window(T0 + timedelta(minutes=7), T0 + timedelta(hours=2, minutes=1), 3600)
    assert (start, end) == (T0, T0 + timedelta(hours=3))
    assert align_window(T0, T0 + timedelta(hours=1), 3600) == (T0, T0 + timedelta(hours=1))
    assert align_window(T0 + timedelta(minutes=7), T0 + timedelta(minutes=8), 300) == (
        T0 + timedelta(minutes=5),
        T0 + timedelta(minutes=10),
    )


def test_aware_times_are_converted_to_naive_utc():
    tz = timezone(timedelta(hours=9))  # Seoul
    start, end = align_window(
        datetime(2026, 11, 28, 18, 30, tzinfo=tz), datetime(2026, 11, 28, 19, 30, tzinfo=tz), 3600
    )
    assert (start, end) == (T0, T0 + timedelta(hours=2))


@pytest.mark.parametrize("period", [0, 59, 90, 3600.0, True])
def test_period_must_be_whole_minutes(period):
    with pytest.raises(ValidationError, match="period_seconds"):
        align_window(T0, T0 + timedelta(hours=1), period)


def test_empty_window_is_refused():
    with pytest.raises(ValidationError, match="end"):
        align_window(T0, T0, 3600)


def test_selection_lines_parsed_from_every_shape():
    line = {
        "event": "selection",
        "at": "2026-11-28T09:15:00.000",
        "experiment_id": "EXP-01",
        "model_code": "M1",
        "reason": "bts",
    }
    assert parse_selection(json.dumps(line)) == Selection(
        T0 + timedelta(minutes=15), "EXP-01", "M1", "bts"
    )
    # A Powertools line: epoch-millisecond timestamp given beside the message.
    at = datetime(2026, 11, 28, 9, 1, tzinfo=UTC)
    assert parse_selection({"model_code": "M1", "reason": "default"}, at=at) == Selection(
        T0 + timedelta(minutes=1), None, "M1", "default"
    )
    assert parse_selection({"model_code": "M1", "reason": "bts", "timestamp": 1795251600000})
    for other in (
        "START RequestId: 1",
        "[1, 2]",
        json.dumps({"message": "x"}),
        json.dumps({"model_code": "M1", "reason": "bts"}),
    ):  # no time at all
        assert parse_selection(other) is None


def test_selections_counted_per_bin_experiment_model_and_reason():
    s = [
        Selection(T0 + timedelta(minutes=m), "EXP-01", code, "bts")
        for m, code in [(1, "A"), (2, "B"), (59, "A"), (60, "A")]
    ]
    s.append(Selection(T0, None, "D", "default"))
    counts = count_selections(s, 3600)
    assert counts == [
        ModelCount(T0, None, "D", "default", 1),
        ModelCount(T0, "EXP-01", "A", "bts", 2),
        ModelCount(T0, "EXP-01", "B", "bts", 1),
        ModelCount(T0 + timedelta(hours=1), "EXP-01", "A", "bts", 1),
    ]
    assert served_per_model(counts, "EXP-01") == {
        T0: {"A": 2, "B": 1},
        T0 + timedelta(hours=1): {"A": 1},
    }


def test_selections_counted_per_batch_with_each_members_first_selection():
    line = {"event": "selection", "experiment_id": "EXP-01", "reason": "bts"}
    lines = [
        # m1 is first seen under b1 with A, comes back under b2 (not a first again)
        {
            **line,
            "at": "2026-11-28T09:05:00",
            "model_code": "A",
            "batch_id": "b1",
            "member_hash": "m1",
        },
        {
            **line,
            "at": "2026-11-28T09:50:00",
            "model_code": "B",
            "batch_id": "b2",
            "member_hash": "m1",
        },
        {
            **line,
            "at": "2026-11-28T09:20:00",
            "model_code": "A",
            "batch_id": "b2",
            "member_hash": "m2",
        },
        {
            **line,
            "at": "2026-11-28T09:25:00",
            "model_code": "A",
            "batch_id": "b2",
            "member_hash": "m2",
        },
        # an older line: no batch id, no member hash
        {**line, "at": "2026-11-28T09:30:00", "model_code": "A"},
    ]
    selections = [parse_selection(json.dumps(x)) for x in lines]
    assert selections[0].batch_id == "b1" and selections[0].member_hash == "m1"
    counts = count_selections(selections, 3600)
    assert counts == [
        ModelCount(T0, "EXP-01", "A", "bts", 1, None, None),
        ModelCount(T0, "EXP-01", "A", "bts", 1, "b1", 1),
        ModelCount(T0, "EXP-01", "A", "bts", 2, "b2", 1),
        ModelCount(T0, "EXP-01", "B", "bts", 1, "b2", 0),
    ]
