"""Operations figures of the embedded stack: the local gateway's persisted counters and logs.

The local gateway (``dynab gateway``) records per minute what API Gateway reports to CloudWatch
and keeps the selector's log lines, in MongoDB. This source reads the minutes through the
gateway's reader (:mod:`services.gateway.stats`) and adds them up into periods, and counts the
log lines per bin the way the Logs Insights query does on AWS.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo.database import Database
from pymongo.errors import PyMongoError

from services.gateway import schema as gateway_schema
from services.gateway import stats as gateway_stats
from services.ops.exceptions import OpsSourceError
from services.ops.figures import (
    ApiPeriod,
    ModelCount,
    ServiceNode,
    align_window,
    check_period,
    count_selections,
    parse_selection,
    period_start,
)


@dataclass(frozen=True)
class EmbeddedOpsSource:
    """Reads the local gateway's collections in ``db`` (the console's own database)."""

    db: Database
    name: str = "embedded"

    def api_metrics(
        self, start: datetime, end: datetime, period_seconds: int = 3600
    ) -> list[ApiPeriod]:
        check_period(period_seconds)
        start, end = align_window(start, end, period_seconds)
        try:
            minutes = gateway_stats.minutes(self.db, start=start, end=end)
        except PyMongoError as exc:
            raise OpsSourceError(f"could not read the gateway's counters: {exc}") from exc
        return periods_from_minutes(minutes, period_seconds)

    def model_counts(
        self, start: datetime, end: datetime, bin_seconds: int = 3600
    ) -> list[ModelCount]:
        check_period(bin_seconds)
        start, end = align_window(start, end, bin_seconds)
        query = {"event": "selection", "at": {"$gte": start, "$lt": end}}
        projection = {
            "_id": 0,
            "at": 1,
            "experiment_id": 1,
            "model_code": 1,
            "reason": 1,
            "batch_id": 1,
            "member_hash": 1,
        }
        try:
            docs = list(self.db[gateway_schema.SELECTOR_LOGS].find(query, projection))
        except PyMongoError as exc:
            raise OpsSourceError(f"could not read the selector's log lines: {exc}") from exc
        return count_selections(_selections(docs), bin_seconds)

    def service_map(self, start: datetime, end: datetime) -> list[ServiceNode] | None:
        # The embedded stack is not traced; the page says so instead of showing an empty map.
        return None


def periods_from_minutes(
    minutes: Iterable[gateway_stats.MinuteStats], period_seconds: int
) -> list[ApiPeriod]:
    """Add per-minute gateway figures up into periods.

    Latency histograms add up exactly, so the percentiles are those of the whole period (to
    the histogram's bucket resolution), not an average of the minutes' percentiles.
    """
    by_period: dict[datetime, gateway_stats.MinuteStats] = {}
    for minute in minutes:
        if minute.minute is None:
            continue
        key = period_start(minute.minute, period_seconds)
        by_period[key] = by_period[key] + minute if key in by_period else minute
    return [
        ApiPeriod(
            start=key,
            requests=s.requests,
            cache_hits=s.cache_hits,
            cache_misses=s.cache_misses,
            errors_4xx=s.status_4xx,
            errors_5xx=s.status_5xx,
            latency_avg_ms=s.latency_mean_ms,
            latency_p50_ms=s.latency_percentile_ms(0.50),
            latency_p90_ms=s.latency_percentile_ms(0.90),
            latency_p99_ms=s.latency_percentile_ms(0.99),
        )
        for key, s in sorted(by_period.items())
    ]


def _selections(docs: Iterable[dict[str, Any]]):
    for doc in docs:
        selection = parse_selection(doc)
        if selection is not None:
            yield selection
