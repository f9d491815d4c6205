"""Operations figures from AWS: CloudWatch metrics, a Logs Insights query and X-Ray.

The boto3 clients are injected (``cloudwatch``, ``logs``, ``xray``): this module never creates
one, so tests can point them at a local endpoint or wrap them in a botocore ``Stubber``.
:func:`services.ops.config.build_source` creates them from configuration at the edge.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from services.exceptions import ValidationError
from services.ops.exceptions import InsightsQueryError, OpsSourceError
from services.ops.figures import (
    ApiPeriod,
    ModelCount,
    ServiceNode,
    align_window,
    check_period,
    naive_utc,
)

#: (ApiPeriod field, API Gateway metric, statistic). The query id is the field name: CloudWatch
#: ids must start with a lower-case letter, which these do.
COUNT_METRICS: tuple[tuple[str, str, str], ...] = (
    ("requests", "Count", "Sum"),
    ("cache_hits", "CacheHitCount", "Sum"),
    ("cache_misses", "CacheMissCount", "Sum"),
    ("errors_4xx", "4XXError", "Sum"),
    ("errors_5xx", "5XXError", "Sum"),
    ("latency_avg_ms", "Latency", "Average"),
)
#: Latency percentiles: (ApiPeriod field, CloudWatch extended statistic).
LATENCY_PERCENTILES: tuple[tuple[str, str], ...] = (
    ("latency_p50_ms", "p50"),
    ("latency_p90_ms", "p90"),
    ("latency_p99_ms", "p99"),
)
_INT_FIELDS = frozenset({"requests", "cache_hits", "cache_misses", "errors_4xx", "errors_5xx"})

#: Logs Insights: count the selector's structured lines per bin, experiment, model, reason and
#: batch. ``{bin}`` is the bin width in seconds; ``{experiment}`` the experiment key of the line.
MODEL_COUNT_QUERY = (
    "filter ispresent(model_code)"
    " | stats count(*) as selections by bin({bin}s) as bin_start, {experiment} as experiment_id,"
    " model_code, reason, batch_id"
    " | sort bin_start asc"
    " | limit 10000"
)
#: Logs Insights returns at most this many rows per query (``limit`` cannot go higher).
INSIGHTS_MAX_ROWS = 10_000
_DONE = "Complete"
_FAILED = frozenset({"Failed", "Cancelled", "Timeout", "Unknown"})

#: X-Ray answers service graphs and trace summaries for at most six hours at a time.
XRAY_MAX_WINDOW = timedelta(hours=6)
#: Trace summaries are paged; a busy API has thousands per hour and a summary needs no more.
XRAY_MAX_TRACE_PAGES = 10


def run_insights_query(
    logs: Any,
    log_group: str,
    query: str,
    start: datetime,
    end: datetime,
    *,
    timeout_seconds: float = 30.0,
    poll_seconds: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> list[dict[str, str]]:
    """Run a Logs Insights query and return its rows as ``{field: value}`` (``@ptr`` dropped).

    Insights queries run asynchronously: start the query, then poll its results until it
    completes. A query still running after ``timeout_seconds`` is stopped (it would keep
    scanning, and costing, otherwise) and reported as an error.

    Raises:
        InsightsQueryError: the query failed, was cancelled, or timed out.
        OpsSourceError: AWS refused the request.
    """
    start_s = int(naive_utc(start).replace(tzinfo=UTC).timestamp())
    # Insights' end time is inclusive; the window is half-open.
    end_s = int(naive_utc(end).replace(tzinfo=UTC).timestamp()) - 1
    try:
        query_id = logs.start_query(
            logGroupName=log_group, startTime=start_s, endTime=end_s, queryString=query
        )["queryId"]
        started = monotonic()
        while True:
            answer = logs.get_query_results(queryId=query_id)
            status = answer.get("status", "Unknown")
            if status == _DONE:
                return [_row(r) for r in answer.get("results", [])]
            if status in _FAILED:
                raise InsightsQueryError(query_id, status)
            if monotonic() - started >= timeout_seconds:
                _stop_quietly(logs, query_id)
                raise InsightsQueryError(
                    query_id,
                    "Timeout",
                    f"Logs Insights query {query_id} did not finish within {timeout_seconds:g} s",
                )
            sleep(poll_seconds)
    except (ClientError, BotoCoreError) as exc:
        raise OpsSourceError(f"CloudWatch Logs refused the query on {log_group}: {exc}") from exc


def _row(fields: Sequence[Mapping[str, str]]) -> dict[str, str]:
    return {f["field"]: f.get("value", "") for f in fields if f.get("field") != "@ptr"}


def _stop_quietly(logs: Any, query_id: str) -> None:
    # The query may have finished meanwhile; the timeout is reported either way.
    with contextlib.suppress(ClientError, BotoCoreError):
        logs.stop_query(queryId=query_id)


def parse_model_counts(rows: Sequence[Mapping[str, str]]) -> list[ModelCount]:
    """Rows of :data:`MODEL_COUNT_QUERY` as :class:`ModelCount`.

    Insights formats ``bin()`` as ``2026-11-28 09:00:00.000`` (UTC) and leaves a field out of
    the row when the grouped value was missing (a selection with no experiment).
    """
    counts = []
    for row in rows:
        try:
            bin_start = datetime.strptime(row["bin_start"], "%Y-%m-%d %H:%M:%S.%f")
            count = int(float(row["selections"]))
            model = row["model_code"]
        except (KeyError, ValueError) as exc:
            raise OpsSourceError(f"unexpected Logs Insights row {dict(row)!r}: {exc}") from exc
        counts.append(
            ModelCount(
                bin_start=bin_start,
                experiment_id=row.get("experiment_id") or None,
                model_code=model,
                reason=row.get("reason", ""),
                count=count,
                batch_id=row.get("batch_id") or None,
            )
        )
    return counts


def summarise_service_graph(
    services: Sequence[Mapping[str, Any]], traces: Sequence[Mapping[str, Any]] = ()
) -> list[ServiceNode]:
    """Per node of the X-Ray service map: requests, errors, faults, mean latency, traces.

    The service graph carries each node's request statistics; trace summaries add how many
    traces went through the node, how many of those had a fault or an error somewhere, and the
    slowest one. Nodes without statistics (the client) are left out.
    """
    per_node: dict[str, dict[str, Any]] = {}
    for trace in traces:
        names = {s.get("Name") for s in trace.get("ServiceIds", []) if s.get("Name")}
        for name in names:
            agg = per_node.setdefault(name, {"n": 0, "fault": 0, "error": 0, "max": None})
            agg["n"] += 1
            agg["fault"] += bool(trace.get("HasFault"))
            agg["error"] += bool(trace.get("HasError"))
            duration = trace.get("Duration")
            if isinstance(duration, int | float):
                ms = float(duration) * 1000.0
                agg["max"] = ms if agg["max"] is None else max(agg["max"], ms)
    nodes = []
    for service in services:
        stats = service.get("SummaryStatistics")
        if not stats:
            continue
        name = service.get("Name", "?")
        total = int(stats.get("TotalCount", 0))
        errors = stats.get("ErrorStatistics", {})
        faults = stats.get("FaultStatistics", {})
        response = float(stats.get("TotalResponseTime", 0.0))
        agg = per_node.get(name, {"n": 0, "fault": 0, "error": 0, "max": None})
        nodes.append(
            ServiceNode(
                name=name,
                type=service.get("Type", ""),
                requests=total,
                ok=int(stats.get("OkCount", 0)),
                errors=int(errors.get("TotalCount", 0)),
                throttles=int(errors.get("ThrottleCount", 0)),
                faults=int(faults.get("TotalCount", 0)),
                # TotalResponseTime is in seconds, summed over the node's requests.
                mean_latency_ms=response / total * 1000.0 if total else None,
                traces=agg["n"],
                traces_with_fault=agg["fault"],
                traces_with_error=agg["error"],
                max_trace_ms=agg["max"],
            )
        )
    return sorted(nodes, key=lambda n: (-n.requests, n.name))


@dataclass(frozen=True)
class AwsOpsSource:
    """Operations figures of one API Gateway stage and the selector's log group.

    Attributes:
        cloudwatch: A boto3 CloudWatch client.
        logs: A boto3 CloudWatch Logs client.
        xray: A boto3 X-Ray client, or None to leave the service map out.
        api_name: API Gateway ``ApiName`` dimension.
        stage: API Gateway ``Stage`` dimension.
        log_group: The selector's log group (``/aws/lambda/<function>``).
        experiment_key: The key of the experiment id in the selector's log lines.
        percentiles: Latency percentiles to ask for; an empty tuple asks for none.
        insights_timeout_seconds: Give up on a Logs Insights query after this long.
        poll_seconds: Interval between polls of a running query.
        sleep: Injected for tests, so that polling needs no real waiting.
        monotonic: Injected for tests.
    """

    cloudwatch: Any
    logs: Any
    xray: Any | None
    api_name: str
    stage: str
    log_group: str
    experiment_key: str = "experiment_id"
    percentiles: tuple[tuple[str, str], ...] = LATENCY_PERCENTILES
    insights_timeout_seconds: float = 30.0
    poll_seconds: float = 1.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    monotonic: Callable[[], float] = field(default=time.monotonic, repr=False)
    name: str = "aws"

    def __post_init__(self) -> None:
        for attr in ("api_name", "stage", "log_group"):
            value = getattr(self, attr)
            if not isinstance(value, str) or not value:
                raise ValidationError(attr, "is required for the AWS operations source")
        if not self.experiment_key.replace("_", "").isalnum():
            # It is pasted into the query text: keep it a plain field name.
            raise ValidationError(
                "experiment_key", f"must be a plain field name, got {self.experiment_key!r}"
            )
        if not self.insights_timeout_seconds > 0:
            raise ValidationError("insights_timeout_seconds", "must be positive")

    # --- CloudWatch metrics ----------------------------------------------------------------

    def metric_queries(self, period_seconds: int) -> list[dict[str, Any]]:
        """The ``MetricDataQueries`` of one :meth:`api_metrics` call."""
        dimensions = [
            {"Name": "ApiName", "Value": self.api_name},
            {"Name": "Stage", "Value": self.stage},
        ]
        stats = [(qid, metric, stat) for qid, metric, stat in COUNT_METRICS]
        stats += [(qid, "Latency", stat) for qid, stat in self.percentiles]
        return [
            {
                "Id": qid,
                "MetricStat": {
                    "Metric": {
                        "Namespace": "AWS/ApiGateway",
                        "MetricName": metric,
                        "Dimensions": dimensions,
                    },
                    "Period": period_seconds,
                    "Stat": stat,
                },
                "ReturnData": True,
            }
            for qid, metric, stat in stats
        ]

    def api_metrics(
        self, start: datetime, end: datetime, period_seconds: int = 3600
    ) -> list[ApiPeriod]:
        check_period(period_seconds)
        start, end = align_window(start, end, period_seconds)
        queries = self.metric_queries(period_seconds)
        series: dict[str, dict[datetime, float]] = {q["Id"]: {} for q in queries}
        request: dict[str, Any] = {
            "MetricDataQueries": queries,
            "StartTime": start.replace(tzinfo=UTC),
            "EndTime": end.replace(tzinfo=UTC),
            "ScanBy": "TimestampAscending",
        }
        try:
            while True:
                answer = self.cloudwatch.get_metric_data(**request)
                for result in answer.get("MetricDataResults", []):
                    values = series.setdefault(result["Id"], {})
                    for ts, value in zip(result["Timestamps"], result["Values"], strict=True):
                        values[naive_utc(ts)] = float(value)
                token = answer.get("NextToken")
                if not token:
                    break
                request["NextToken"] = token
        except (ClientError, BotoCoreError) as exc:
            raise OpsSourceError(f"CloudWatch refused get_metric_data: {exc}") from exc
        stamps = sorted({ts for values in series.values() for ts in values})
        periods = []
        for ts in stamps:
            figures: dict[str, Any] = {}
            for qid, values in series.items():
                if ts in values:
                    value = values[ts]
                    figures[qid] = round(value) if qid in _INT_FIELDS else value
            periods.append(ApiPeriod(start=ts, **figures))
        return periods

    # --- Logs Insights ---------------------------------------------------------------------

    def model_count_query(self, bin_seconds: int) -> str:
        return MODEL_COUNT_QUERY.format(bin=bin_seconds, experiment=self.experiment_key)

    def model_counts(
        self, start: datetime, end: datetime, bin_seconds: int = 3600
    ) -> list[ModelCount]:
        check_period(bin_seconds)
        start, end = align_window(start, end, bin_seconds)
        return parse_model_counts(self._model_count_rows(start, end, bin_seconds))

    def _model_count_rows(
        self, start: datetime, end: datetime, bin_seconds: int
    ) -> list[dict[str, str]]:
        """Every row of the window, splitting it where Insights' row cap would cut it.

        Insights stops at :data:`INSIGHTS_MAX_ROWS` rows and says nothing; sorted by bin, the
        newest hours are the ones lost (7 days x 20 experiments x 10 models is 33,600 rows).
        A full answer is therefore not trusted: the window is halved at a bin boundary (a row
        is one bin, so no row straddles the cut) and each half asked again, recursively.
        """
        rows = run_insights_query(
            self.logs,
            self.log_group,
            self.model_count_query(bin_seconds),
            start,
            end,
            timeout_seconds=self.insights_timeout_seconds,
            poll_seconds=self.poll_seconds,
            sleep=self.sleep,
            monotonic=self.monotonic,
        )
        if len(rows) < INSIGHTS_MAX_ROWS:
            return rows
        bins = int((end - start).total_seconds()) // bin_seconds
        if bins <= 1:
            raise OpsSourceError(
                f"Logs Insights found more than {INSIGHTS_MAX_ROWS:,} (experiment, model, "
                f"reason) groups in the {bin_seconds} s bin from {start:%Y-%m-%d %H:%M}; "
                "ask for a shorter bin"
            )
        middle = start + timedelta(seconds=(bins // 2) * bin_seconds)
        return self._model_count_rows(start, middle, bin_seconds) + self._model_count_rows(
            middle, end, bin_seconds
        )

    # --- X-Ray -----------------------------------------------------------------------------

    def service_map(self, start: datetime, end: datetime) -> list[ServiceNode] | None:
        if self.xray is None:
            return None
        end = naive_utc(end)
        start = max(naive_utc(start), end - XRAY_MAX_WINDOW)
        window = {"StartTime": start.replace(tzinfo=UTC), "EndTime": end.replace(tzinfo=UTC)}
        try:
            services: list[dict[str, Any]] = []
            request = dict(window)
            while True:
                answer = self.xray.get_service_graph(**request)
                services.extend(answer.get("Services", []))
                if not answer.get("NextToken"):
                    break
                request["NextToken"] = answer["NextToken"]
            traces: list[dict[str, Any]] = []
            request = {**window, "Sampling": False}
            for _ in range(XRAY_MAX_TRACE_PAGES):
                answer = self.xray.get_trace_summaries(**request)
                traces.extend(answer.get("TraceSummaries", []))
                if not answer.get("NextToken"):
                    break
                request["NextToken"] = answer["NextToken"]
        except (ClientError, BotoCoreError) as exc:
            raise OpsSourceError(f"X-Ray refused the request: {exc}") from exc
        return summarise_service_graph(services, traces)
