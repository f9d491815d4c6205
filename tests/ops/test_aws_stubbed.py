"""The AWS source with botocore Stubber, where moto is not faithful.

moto has no percentile statistics (HTTP 500) nor metric math in ``get_metric_data``, ignores
Logs Insights ``stats``/``bin`` (it returns raw rows), and always answers an empty X-Ray service
graph. The responses below follow the shapes AWS documents for those calls; Stubber also checks
every request against the service model and against the parameters we expect.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from botocore.stub import ANY, Stubber

from services.ops.aws import AwsOpsSource
from services.ops.exceptions import InsightsQueryError, OpsSourceError
from services.ops.figures import ModelCount
from tests.ops.conftest import offline_client

T0 = datetime(2026, 11, 28, 9, 0, 0)


def _utc(t: datetime) -> datetime:
    return t.replace(tzinfo=UTC)


class FakeTime:
    """A monotonic clock that moves only when the source sleeps: polling without waiting."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def monotonic(self) -> float:
        return self.now


def _source(**clients) -> AwsOpsSource:
    fake = FakeTime()
    values = {
        "cloudwatch": offline_client("cloudwatch"),
        "logs": offline_client("logs"),
        "xray": offline_client("xray"),
        "api_name": "dynab-selector",
        "stage": "prod",
        "log_group": "/aws/lambda/dynab-selector",
        "insights_timeout_seconds": 5.0,
        "poll_seconds": 1.0,
        "sleep": fake.sleep,
        "monotonic": fake.monotonic,
    }
    values.update(clients)
    return AwsOpsSource(**values)


def _series(qid: str, stamps: list[datetime], values: list[float]) -> dict:
    return {
        "Id": qid,
        "Label": qid,
        "Timestamps": [_utc(t) for t in stamps],
        "Values": values,
        "StatusCode": "Complete",
    }


def test_percentiles_and_counts_from_get_metric_data_over_two_pages():
    """Percentiles (p50/p90/p99) come back as their own series; NextToken pages are merged.

    Stubber, because moto answers a percentile statistic with HTTP 500.
    """
    source = _source()
    h9, h10 = T0, T0 + timedelta(hours=1)
    page1 = [
        _series("requests", [h9, h10], [120.0, 80.0]),
        _series("cache_hits", [h9, h10], [90.0, 20.0]),
        _series("cache_misses", [h9, h10], [30.0, 60.0]),
        _series("errors_4xx", [h9], [2.0]),
        _series("errors_5xx", [h10], [1.0]),
    ]
    page2 = [
        _series("latency_avg_ms", [h9, h10], [14.5, 40.0]),
        _series("latency_p50_ms", [h9, h10], [9.0, 31.0]),
        _series("latency_p90_ms", [h9, h10], [25.0, 70.0]),
        _series("latency_p99_ms", [h9, h10], [88.0, 210.0]),
    ]
    expected = {
        "MetricDataQueries": source.metric_queries(3600),
        "StartTime": _utc(h9),
        "EndTime": _utc(h10 + timedelta(hours=1)),
        "ScanBy": "TimestampAscending",
    }
    with Stubber(source.cloudwatch) as stub:
        stub.add_response(
            "get_metric_data", {"MetricDataResults": page1, "NextToken": "t2"}, expected
        )
        stub.add_response(
            "get_metric_data", {"MetricDataResults": page2}, {**expected, "NextToken": "t2"}
        )
        periods = source.api_metrics(h9 + timedelta(minutes=30), h10 + timedelta(minutes=5))
        stub.assert_no_pending_responses()

    assert len(periods) == 2
    first, second = periods
    assert first.start == h9 and second.start == h10
    assert (first.requests, first.cache_hits, first.cache_misses, first.errors_4xx) == (
        120,
        90,
        30,
        2,
    )
    assert first.hit_ratio == 0.75
    assert (first.latency_p50_ms, first.latency_p90_ms, first.latency_p99_ms) == (9.0, 25.0, 88.0)
    assert second.hit_ratio == 0.25 and second.errors_5xx == 1 and second.errors_4xx == 0
    assert second.latency_p99_ms == 210.0


def test_metric_queries_ask_for_every_figure_by_api_and_stage():
    queries = _source().metric_queries(300)
    by_id = {q["Id"]: q["MetricStat"] for q in queries}
    assert {k: (v["Metric"]["MetricName"], v["Stat"]) for k, v in by_id.items()} == {
        "requests": ("Count", "Sum"),
        "cache_hits": ("CacheHitCount", "Sum"),
        "cache_misses": ("CacheMissCount", "Sum"),
        "errors_4xx": ("4XXError", "Sum"),
        "errors_5xx": ("5XXError", "Sum"),
        "latency_avg_ms": ("Latency", "Average"),
        "latency_p50_ms": ("Latency", "p50"),
        "latency_p90_ms": ("Latency", "p90"),
        "latency_p99_ms": ("Latency", "p99"),
    }
    for stat in by_id.values():
        assert stat["Period"] == 300
        assert stat["Metric"]["Namespace"] == "AWS/ApiGateway"
        assert stat["Metric"]["Dimensions"] == [
            {"Name": "ApiName", "Value": "dynab-selector"},
            {"Name": "Stage", "Value": "prod"},
        ]


def test_cloudwatch_error_is_one_clear_ops_error():
    source = _source()
    with Stubber(source.cloudwatch) as stub:
        stub.add_client_error("get_metric_data", "AccessDenied", "not allowed")
        with pytest.raises(OpsSourceError, match="AccessDenied"):
            source.api_metrics(T0, T0 + timedelta(hours=1))


def _cell(field: str, value: str) -> dict:
    return {"field": field, "value": value}


def test_logs_insights_stats_polled_until_complete_and_parsed():
    """``stats count(*) by bin, experiment, model, reason`` rows become ModelCounts.

    Stubber, because moto ignores ``stats`` and ``bin`` and returns raw rows. The query runs
    for two polls (Scheduled, Running) before completing; the row without an experiment is a
    selection in an area with no experiment (reason ``default``).
    """
    source = _source()
    start, end = T0, T0 + timedelta(hours=2)
    started = {
        "logGroupName": "/aws/lambda/dynab-selector",
        "startTime": int(_utc(start).timestamp()),
        "endTime": int(_utc(end).timestamp()) - 1,
        "queryString": source.model_count_query(3600),
    }
    rows = [
        [
            _cell("bin_start", "2026-11-28 09:00:00.000"),
            _cell("experiment_id", "EXP-01"),
            _cell("model_code", "EXP-01-APS002-01"),
            _cell("reason", "bts"),
            _cell("selections", "700"),
        ],
        [
            _cell("bin_start", "2026-11-28 09:00:00.000"),
            _cell("experiment_id", "EXP-01"),
            _cell("model_code", "EXP-01-NCF-01"),
            _cell("reason", "bts"),
            _cell("selections", "300"),
        ],
        [
            _cell("bin_start", "2026-11-28 10:00:00.000"),
            _cell("model_code", "CART-DEFAULT"),
            _cell("reason", "default"),
            _cell("selections", "42"),
        ],
    ]
    with Stubber(source.logs) as stub:
        stub.add_response("start_query", {"queryId": "q-1"}, started)
        stub.add_response("get_query_results", {"status": "Scheduled", "results": []})
        stub.add_response("get_query_results", {"status": "Running", "results": []})
        stub.add_response(
            "get_query_results",
            {
                "status": "Complete",
                "results": rows,
                "statistics": {"recordsMatched": 1042.0, "recordsScanned": 2100.0},
            },
            {"queryId": "q-1"},
        )
        counts = source.model_counts(start + timedelta(minutes=1), end - timedelta(minutes=1))
        stub.assert_no_pending_responses()

    assert "stats count(*) as selections by bin(3600s)" in started["queryString"]
    assert counts == [
        ModelCount(T0, "EXP-01", "EXP-01-APS002-01", "bts", 700),
        ModelCount(T0, "EXP-01", "EXP-01-NCF-01", "bts", 300),
        ModelCount(T0 + timedelta(hours=1), None, "CART-DEFAULT", "default", 42),
    ]


def test_logs_insights_query_is_stopped_after_the_timeout():
    """A query that keeps running is stopped and reported; the fake clock makes it instant."""
    source = _source(insights_timeout_seconds=3.0)
    with Stubber(source.logs) as stub:
        stub.add_response(
            "start_query",
            {"queryId": "q-slow"},
            {
                "logGroupName": ANY,
                "startTime": ANY,
                "endTime": ANY,
                "queryString": ANY,
            },
        )
        for _ in range(4):
            stub.add_response("get_query_results", {"status": "Running", "results": []})
        stub.add_response("stop_query", {"success": True}, {"queryId": "q-slow"})
        with pytest.raises(InsightsQueryError, match="did not finish within 3 s") as info:
            source.model_counts(T0, T0 + timedelta(hours=1))
        stub.assert_no_pending_responses()
    assert info.value.status == "Timeout"
    assert source.sleep.__self__.sleeps == [1.0, 1.0, 1.0]


def test_logs_insights_failed_query_raises():
    source = _source()
    with Stubber(source.logs) as stub:
        stub.add_response("start_query", {"queryId": "q-bad"})
        stub.add_response("get_query_results", {"status": "Failed", "results": []})
        with pytest.raises(InsightsQueryError, match="Failed"):
            source.model_counts(T0, T0 + timedelta(hours=1))


def test_xray_service_map_summarised_per_node():
    """Service graph statistics and trace summaries are summarised per node.

    Stubber, because moto's ``get_service_graph`` is always empty and its trace summaries
    carry no service ids. Figures: the Lambda node saw 1,000 requests taking 45 s in total
    (45 ms each on average), 3 errors of which 1 throttle, and 2 faults.
    """
    source = _source()
    end = T0 + timedelta(hours=12)
    window = {"StartTime": _utc(end - timedelta(hours=6)), "EndTime": _utc(end)}
    graph = {
        "StartTime": _utc(end - timedelta(hours=6)),
        "EndTime": _utc(end),
        "Services": [
            {"ReferenceId": 0, "Name": "dynab-client", "Names": [], "Type": "client"},
            {
                "ReferenceId": 1,
                "Name": "dynab-selector",
                "Names": ["dynab-selector"],
                "Type": "AWS::Lambda::Function",
                "State": "active",
                "SummaryStatistics": {
                    "OkCount": 995,
                    "ErrorStatistics": {"ThrottleCount": 1, "OtherCount": 2, "TotalCount": 3},
                    "FaultStatistics": {"OtherCount": 2, "TotalCount": 2},
                    "TotalCount": 1000,
                    "TotalResponseTime": 45.0,
                },
            },
            {
                "ReferenceId": 2,
                "Name": "dynab-api/prod",
                "Names": ["dynab-api/prod"],
                "Type": "AWS::ApiGateway::Stage",
                "SummaryStatistics": {
                    "OkCount": 3000,
                    "ErrorStatistics": {"ThrottleCount": 0, "OtherCount": 0, "TotalCount": 0},
                    "FaultStatistics": {"OtherCount": 0, "TotalCount": 0},
                    "TotalCount": 3000,
                    "TotalResponseTime": 30.0,
                },
            },
        ],
    }
    summaries = [
        {
            "Id": "1-6745f000-aaaaaaaaaaaaaaaaaaaaaaaa",
            "Duration": 0.12,
            "ResponseTime": 0.11,
            "HasFault": True,
            "HasError": False,
            "HasThrottle": False,
            "ServiceIds": [
                {"Name": "dynab-api/prod", "Type": "AWS::ApiGateway::Stage"},
                {"Name": "dynab-selector", "Type": "AWS::Lambda::Function"},
                {"Name": "dynab-selector", "Type": "AWS::Lambda"},
            ],
        },
        {
            "Id": "1-6745f001-bbbbbbbbbbbbbbbbbbbbbbbb",
            "Duration": 0.02,
            "ResponseTime": 0.02,
            "HasFault": False,
            "HasError": True,
            "HasThrottle": False,
            "ServiceIds": [{"Name": "dynab-api/prod", "Type": "AWS::ApiGateway::Stage"}],
        },
    ]
    with Stubber(source.xray) as stub:
        stub.add_response("get_service_graph", graph, window)
        stub.add_response(
            "get_trace_summaries",
            {"TraceSummaries": summaries[:1], "NextToken": "n2", "TracesProcessedCount": 2},
            {**window, "Sampling": False},
        )
        stub.add_response(
            "get_trace_summaries",
            {"TraceSummaries": summaries[1:], "TracesProcessedCount": 2},
            {**window, "Sampling": False, "NextToken": "n2"},
        )
        # A 12-hour window: X-Ray is asked for its last 6 hours only.
        nodes = source.service_map(T0, end)
        stub.assert_no_pending_responses()

    assert [n.name for n in nodes] == ["dynab-api/prod", "dynab-selector"]
    api, selector = nodes
    assert (selector.requests, selector.ok, selector.errors, selector.throttles) == (
        1000,
        995,
        3,
        1,
    )
    assert selector.faults == 2
    assert selector.mean_latency_ms == pytest.approx(45.0)
    assert (selector.traces, selector.traces_with_fault, selector.traces_with_error) == (1, 1, 0)
    assert selector.max_trace_ms == pytest.approx(120.0)
    assert api.mean_latency_ms == pytest.approx(10.0)
    assert (api.traces, api.traces_with_fault, api.traces_with_error) == (2, 1, 1)


def test_no_xray_client_means_no_service_map():
    assert _source(xray=None).service_map(T0, T0 + timedelta(hours=1)) is None
