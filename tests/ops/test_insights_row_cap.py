"""Logs Insights' 10,000-row cap: a full answer is split, never silently cut.

Stubber, as moto ignores ``stats`` and ``bin``. Each stubbed answer is what Insights returns for
its window: the groups of that window sorted by bin, cut at 10,000 rows -- so the first answer
of a week of 20 experiments x 10 models (33,600 groups) lacks its newest four days.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from botocore.stub import Stubber

from services.ops.aws import INSIGHTS_MAX_ROWS
from services.ops.exceptions import OpsSourceError
from services.ops.figures import ModelCount
from tests.ops.test_aws_stubbed import _cell, _source, _utc

T0 = datetime(2026, 11, 21, 0, 0, 0)
EXPERIMENTS = [f"EXP-{e:02d}" for e in range(20)]
MODELS = [f"M-{m:02d}" for m in range(10)]


def truth(hour: int) -> list[ModelCount]:
    """Every (experiment, model) group of one hour, with a count that differs per group."""
    return [
        ModelCount(
            T0 + timedelta(hours=hour),
            exp,
            f"{exp}-{model}",
            "bts",
            (hour * 7 + e * 3 + m) % 50 + 1,
        )
        for e, exp in enumerate(EXPERIMENTS)
        for m, model in enumerate(MODELS)
    ]


def insights_answer(first_hour: int, end_hour: int) -> list[list[dict[str, str]]]:
    rows = [
        [
            _cell("bin_start", f"{c.bin_start:%Y-%m-%d %H:%M:%S}.000"),
            _cell("experiment_id", c.experiment_id),
            _cell("model_code", c.model_code),
            _cell("reason", c.reason),
            _cell("selections", str(c.count)),
        ]
        for hour in range(first_hour, end_hour)
        for c in truth(hour)
    ]
    return rows[:INSIGHTS_MAX_ROWS]


def expect_query(stub: Stubber, source, first_hour: int, end_hour: int, qid: str) -> None:
    stub.add_response(
        "start_query",
        {"queryId": qid},
        {
            "logGroupName": source.log_group,
            "startTime": int(_utc(T0 + timedelta(hours=first_hour)).timestamp()),
            "endTime": int(_utc(T0 + timedelta(hours=end_hour)).timestamp()) - 1,
            "queryString": source.model_count_query(3600),
        },
    )
    stub.add_response(
        "get_query_results",
        {"status": "Complete", "results": insights_answer(first_hour, end_hour)},
        {"queryId": qid},
    )


def test_a_capped_week_is_split_until_every_group_is_read() -> None:
    # GIVEN a week whose answer is cut at 10,000 rows, as are its halves (16,800 groups each);
    # its quarters (8,400) fit
    source = _source()
    with Stubber(source.logs) as stub:
        for i, (a, b) in enumerate(
            [(0, 168), (0, 84), (0, 42), (42, 84), (84, 168), (84, 126), (126, 168)]
        ):
            expect_query(stub, source, a, b, f"q-{i}")
        # WHEN the week's model counts are asked for
        counts = source.model_counts(T0, T0 + timedelta(days=7))
        stub.assert_no_pending_responses()
    # THEN every group of every hour is there once, the newest hours included
    expected = [c for hour in range(168) for c in truth(hour)]
    assert len(expected) == 33_600
    assert counts == expected


def test_an_answer_under_the_cap_is_one_query() -> None:
    source = _source()
    with Stubber(source.logs) as stub:
        expect_query(stub, source, 0, 24, "q-day")  # 4,800 groups
        counts = source.model_counts(T0, T0 + timedelta(days=1))
        stub.assert_no_pending_responses()
    assert len(counts) == 4_800


def test_a_single_bin_over_the_cap_is_an_error_not_a_silent_cut() -> None:
    source = _source()
    full = [
        [
            _cell("bin_start", "2026-11-21 00:00:00.000"),
            _cell("experiment_id", "EXP-00"),
            _cell("model_code", f"M-{i}"),
            _cell("reason", "bts"),
            _cell("selections", "1"),
        ]
        for i in range(INSIGHTS_MAX_ROWS)
    ]
    with Stubber(source.logs) as stub:
        stub.add_response("start_query", {"queryId": "q-1"})
        stub.add_response("get_query_results", {"status": "Complete", "results": full})
        with pytest.raises(OpsSourceError, match="more than 10,000"):
            source.model_counts(T0, T0 + timedelta(hours=1))
