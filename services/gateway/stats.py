"""Reading the local gateway's persisted figures: what the console's Operations page shows.

The local counterparts of CloudWatch's API Gateway metrics and of a Logs Insights
``stats count(*) by model_code`` over the selector's logs. Percentiles come from the stored
latency histogram (linear within a bucket), so they are estimates to the bucket's resolution.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.database import Database

from services.gateway import schema
from services.mongo.schema import time_range


@dataclass(frozen=True)
class MinuteStats:
    """One minute (or a sum of minutes) of gateway traffic."""

    minute: datetime | None
    requests: int
    cache_hits: int
    cache_misses: int
    status_2xx: int
    status_4xx: int
    status_5xx: int
    latency_sum_ms: float
    latency_histogram: tuple[int, ...]

    @property
    def cache_hit_ratio(self) -> float | None:
        """``CacheHitCount / (CacheHitCount + CacheMissCount)``; None with no traffic."""
        total = self.cache_hits + self.cache_misses
        return self.cache_hits / total if total else None

    @property
    def latency_mean_ms(self) -> float | None:
        return self.latency_sum_ms / self.requests if self.requests else None

    def latency_percentile_ms(self, q: float) -> float | None:
        return histogram_percentile(self.latency_histogram, q)

    def __add__(self, other: MinuteStats) -> MinuteStats:
        return MinuteStats(
            minute=None,
            requests=self.requests + other.requests,
            cache_hits=self.cache_hits + other.cache_hits,
            cache_misses=self.cache_misses + other.cache_misses,
            status_2xx=self.status_2xx + other.status_2xx,
            status_4xx=self.status_4xx + other.status_4xx,
            status_5xx=self.status_5xx + other.status_5xx,
            latency_sum_ms=self.latency_sum_ms + other.latency_sum_ms,
            latency_histogram=tuple(
                a + b for a, b in zip(self.latency_histogram, other.latency_histogram, strict=True)
            ),
        )

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> MinuteStats:
        return cls(
            minute=doc.get("minute"),
            requests=int(doc.get("requests", 0)),
            cache_hits=int(doc.get("cache_hits", 0)),
            cache_misses=int(doc.get("cache_misses", 0)),
            status_2xx=int(doc.get("status_2xx", 0)),
            status_4xx=int(doc.get("status_4xx", 0)),
            status_5xx=int(doc.get("status_5xx", 0)),
            latency_sum_ms=float(doc.get("latency_sum_ms", 0.0)),
            latency_histogram=tuple(int(doc.get(f, 0)) for f in schema.LATENCY_FIELDS),
        )


EMPTY = MinuteStats(None, 0, 0, 0, 0, 0, 0, 0.0, (0,) * len(schema.LATENCY_FIELDS))


def histogram_percentile(counts: Sequence[int], q: float) -> float | None:
    """The ``q``-quantile (0 < q <= 1) of a latency histogram over :data:`LATENCY_BOUNDS_MS`."""
    total = sum(counts)
    if not total:
        return None
    bounds = schema.LATENCY_BOUNDS_MS
    rank = q * total
    seen = 0
    for i, n in enumerate(counts):
        if n and seen + n >= rank:
            low = bounds[i - 1] if i > 0 else 0.0
            high = bounds[i] if i < len(bounds) else bounds[-1] * 2
            return low + (high - low) * (rank - seen) / n
        seen += n
    return bounds[-1] * 2


def minutes(
    db: Database, *, start: datetime | None = None, end: datetime | None = None
) -> list[MinuteStats]:
    """Minutes with start <= minute < end, oldest first."""
    query: dict[str, Any] = {}
    time_range(query, "minute", start, end)
    docs = db[schema.GATEWAY_METRICS].find(query).sort("minute", ASCENDING)
    # A minute has one document per gateway process that counted in it (each writes its own
    # totals, so a retried write cannot count twice): add them up.
    merged: dict[datetime, MinuteStats] = {}
    for doc in docs:
        row = MinuteStats.from_doc(doc)
        before = merged.get(row.minute)  # type: ignore[arg-type]
        merged[row.minute] = row if before is None else replace(before + row, minute=row.minute)  # type: ignore[index]
    return list(merged.values())


def total(stats: Iterable[MinuteStats]) -> MinuteStats:
    """The sum of ``stats`` (hit ratio and percentiles over the whole period)."""
    out = EMPTY
    for s in stats:
        out = out + s
    return out


def model_counts(
    db: Database,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    area_code: str | None = None,
) -> dict[str, int]:
    """How many selections returned each model code (the Logs Insights count)."""
    query: dict[str, Any] = {"event": "selection"}
    if area_code is not None:
        query["area_code"] = str(area_code)
    time_range(query, "at", start, end)
    docs = db[schema.SELECTOR_LOGS].find(query, {"model_code": 1, "_id": 0})
    return dict(Counter(d["model_code"] for d in docs).most_common())


def recent_logs(db: Database, limit: int = 100) -> list[dict[str, Any]]:
    """The newest selector log records, newest first."""
    docs = db[schema.SELECTOR_LOGS].find({}, {"_id": 0}).sort("at", DESCENDING).limit(int(limit))
    return list(docs)
