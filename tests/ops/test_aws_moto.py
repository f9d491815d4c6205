"""The AWS source against moto served over HTTP, where moto is faithful.

moto stores ``put_metric_data`` points and answers ``get_metric_data`` with Sum and Average per
period faithfully, and it ingests log events and hands them back to a Logs Insights query as raw
rows. Percentiles, Insights ``stats`` and the X-Ray service graph are tested with botocore
Stubber in ``test_aws_stubbed.py`` instead.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

from services.ops.aws import AwsOpsSource, run_insights_query
from services.ops.figures import ModelCount, count_selections, parse_selection

T0 = datetime(2026, 11, 28, 9, 0, 0)


def _source(aws_client, api_name: str, log_group: str = "/aws/lambda/selector") -> AwsOpsSource:
    return AwsOpsSource(
        cloudwatch=aws_client("cloudwatch"),
        logs=aws_client("logs"),
        xray=None,
        api_name=api_name,
        stage="prod",
        log_group=log_group,
        # moto answers a percentile statistic with HTTP 500: ask only for what it implements.
        percentiles=(),
    )


def _put(cloudwatch, api_name: str, metric: str, at: datetime, values: list[float]) -> None:
    cloudwatch.put_metric_data(
        Namespace="AWS/ApiGateway",
        MetricData=[
            {
                "MetricName": metric,
                "Dimensions": [
                    {"Name": "ApiName", "Value": api_name},
                    {"Name": "Stage", "Value": "prod"},
                ],
                "Timestamp": at.replace(tzinfo=UTC),
                "Value": value,
                "Unit": "Milliseconds" if metric == "Latency" else "Count",
            }
            for value in values
        ],
    )


def test_hourly_sums_averages_and_hit_ratio_from_moto(aws_client):
    """GIVEN API Gateway points in two hours WHEN read per hour THEN sums, means and ratios match.

    moto is faithful for Sum and Average per period, which is all this test reads.
    """
    api = f"dynab-{uuid.uuid4().hex[:8]}"
    cw = aws_client("cloudwatch")
    # Hour 09: 10 requests, 6 hits, 4 misses, one 4xx; latency 10, 20, 30 ms.
    at9 = T0 + timedelta(minutes=15)
    _put(cw, api, "Count", at9, [4, 6])
    _put(cw, api, "CacheHitCount", at9, [6])
    _put(cw, api, "CacheMissCount", at9, [1, 3])
    _put(cw, api, "4XXError", at9, [1])
    _put(cw, api, "5XXError", at9, [0])
    _put(cw, api, "Latency", at9, [10, 20, 30])
    # Hour 10: 5 requests, all misses, one 5xx.
    at10 = T0 + timedelta(hours=1, minutes=40)
    _put(cw, api, "Count", at10, [5])
    _put(cw, api, "CacheHitCount", at10, [0])
    _put(cw, api, "CacheMissCount", at10, [5])
    _put(cw, api, "5XXError", at10, [1])

    # An unaligned window: the source must widen it to whole hours, or moto's buckets (which
    # start at StartTime) would split the points differently.
    periods = _source(aws_client, api).api_metrics(
        T0 + timedelta(minutes=7), T0 + timedelta(hours=1, minutes=50)
    )

    assert [p.start for p in periods] == [T0, T0 + timedelta(hours=1)]
    first, second = periods
    assert (first.requests, first.cache_hits, first.cache_misses) == (10, 6, 4)
    assert (first.errors_4xx, first.errors_5xx) == (1, 0)
    assert first.latency_avg_ms == 20.0
    assert first.hit_ratio == 0.6
    assert (second.requests, second.cache_hits, second.cache_misses, second.errors_5xx) == (
        5,
        0,
        5,
        1,
    )
    assert second.hit_ratio == 0.0
    assert second.latency_avg_ms is None


def test_selector_log_lines_round_trip_through_moto_logs(aws_client):
    """GIVEN selector lines ingested WHEN read with an Insights query THEN counts match by hand.

    moto ingests ``put_log_events`` faithfully and returns the raw events of a Logs Insights
    query in the time range (it ignores ``stats``), so this checks ingestion, the start/poll
    loop over HTTP, the time window, and counting the lines in Python.
    """
    group = f"/aws/lambda/selector-{uuid.uuid4().hex[:8]}"
    logs = aws_client("logs")
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s1")
    picks = ["A"] * 3 + ["B"] * 2
    events = [
        {
            "timestamp": int((T0 + timedelta(minutes=i)).replace(tzinfo=UTC).timestamp() * 1000),
            "message": json.dumps(
                {"level": "INFO", "experiment_id": "EXP-01", "model_code": m, "reason": "bts"}
            ),
        }
        for i, m in enumerate(picks)
    ]
    # A line of another kind and one outside the window must not be counted.
    events.append({"timestamp": events[-1]["timestamp"] + 1000, "message": "START RequestId"})
    late = int((T0 + timedelta(hours=2)).replace(tzinfo=UTC).timestamp() * 1000)
    events.append({"timestamp": late, "message": events[0]["message"]})
    logs.put_log_events(logGroupName=group, logStreamName="s1", logEvents=events)

    polls: list[float] = []
    rows = run_insights_query(
        logs,
        group,
        "fields @timestamp, @message | sort @timestamp asc",
        T0,
        T0 + timedelta(hours=1),
        sleep=polls.append,
    )
    selections = [s for r in rows if (s := parse_selection(r["@message"], at=_ms(r))) is not None]

    assert len(rows) == 6
    assert count_selections(selections, 3600) == [
        ModelCount(T0, "EXP-01", "A", "bts", 3),
        ModelCount(T0, "EXP-01", "B", "bts", 2),
    ]


def _ms(row: dict[str, str]) -> datetime:
    value = row["@timestamp"]
    if value.isdigit():
        return datetime.fromtimestamp(int(value) / 1000, UTC).replace(tzinfo=None)
    return datetime.strptime(value, "%Y-%m-%d %H:%M:%S.%f")
