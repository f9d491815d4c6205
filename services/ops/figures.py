"""Operations figures as value objects, and the pure arithmetic on them.

API Gateway reports per period: requests (``Count``), cache hits and misses, 4xx and 5xx
responses, and latency. The cache hit ratio is ``hits / (hits + misses)``; a period without
cache traffic has no ratio (``None``), which is different from a ratio of 0 — a chart must show
a gap there, not a dive to zero.

Periods are aligned to the hour (or to the period, for shorter periods) so that the AWS and the
embedded source bin the same requests into the same rows, and so that CloudWatch answers with
whole periods instead of buckets starting at an arbitrary second.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from services.exceptions import ValidationError

#: Reasons whose model code follows the experiment's split; the others (``paused``,
#: ``default``, ``fallback``) serve a fixed model on purpose and must not count against it.
SPLIT_REASONS = frozenset({"bts", "warmup", "static"})

_EPOCH = datetime(1970, 1, 1)


def hit_ratio(hits: float, misses: float) -> float | None:
    """Cache hit ratio ``hits / (hits + misses)``; ``None`` when there was no cache traffic.

    Raises:
        ValidationError: on negative or non-finite counts.
    """
    for name, value in (("hits", hits), ("misses", misses)):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValidationError(name, f"must be a number, got {value!r}")
        if not math.isfinite(value) or value < 0:
            raise ValidationError(name, f"must be finite and non-negative, got {value!r}")
    total = hits + misses
    if total == 0:
        return None
    return hits / total


def align_window(start: datetime, end: datetime, period_seconds: int) -> tuple[datetime, datetime]:
    """Widen ``[start, end)`` to whole periods counted from midnight UTC.

    With a period of 3600 s the window starts and ends on the hour. CloudWatch returns buckets
    that start at ``StartTime``, so an unaligned start would shift every bucket.

    Raises:
        ValidationError: on a period that is not a positive multiple of 60 s, or end <= start.
    """
    check_period(period_seconds)
    start, end = naive_utc(start), naive_utc(end)
    if end <= start:
        raise ValidationError("end", f"must be after start ({start:%Y-%m-%d %H:%M} >= {end})")
    period = timedelta(seconds=period_seconds)
    aligned_start = _EPOCH + ((start - _EPOCH) // period) * period
    ends = (end - _EPOCH) // period
    aligned_end = _EPOCH + ends * period
    if aligned_end < end:
        aligned_end += period
    return aligned_start, aligned_end


def period_start(t: datetime, period_seconds: int) -> datetime:
    """The start of the period that contains ``t``."""
    period = timedelta(seconds=period_seconds)
    t = naive_utc(t)
    return _EPOCH + ((t - _EPOCH) // period) * period


def check_period(period_seconds: int) -> int:
    if (
        isinstance(period_seconds, bool)
        or not isinstance(period_seconds, int)
        or period_seconds < 60
        or period_seconds % 60
    ):
        raise ValidationError(
            "period_seconds", f"must be a whole number of minutes, got {period_seconds!r}"
        )
    return period_seconds


def naive_utc(t: datetime) -> datetime:
    """``t`` as naive UTC (MongoDB's and dynab's convention)."""
    if t.tzinfo is not None:
        return t.astimezone(UTC).replace(tzinfo=None)
    return t


@dataclass(frozen=True)
class ApiPeriod:
    """What the API reported for one period starting at ``start`` (naive UTC).

    Latencies are in milliseconds, ``None`` when the period had no requests or the source has
    no such statistic.
    """

    start: datetime
    requests: int = 0
    cache_hits: int = 0
    cache_misses: int = 0
    errors_4xx: int = 0
    errors_5xx: int = 0
    latency_avg_ms: float | None = None
    latency_p50_ms: float | None = None
    latency_p90_ms: float | None = None
    latency_p99_ms: float | None = None

    @property
    def hit_ratio(self) -> float | None:
        return hit_ratio(self.cache_hits, self.cache_misses)


@dataclass(frozen=True)
class ApiTotals:
    """Sums over a window; ``latency_avg_ms`` is the request-weighted mean of the periods."""

    requests: int
    cache_hits: int
    cache_misses: int
    errors_4xx: int
    errors_5xx: int
    latency_avg_ms: float | None

    @property
    def hit_ratio(self) -> float | None:
        return hit_ratio(self.cache_hits, self.cache_misses)


def api_totals(periods: Iterable[ApiPeriod]) -> ApiTotals:
    """Add up periods. Percentiles cannot be added, so the totals carry none.

    The overall hit ratio is computed from the summed counts, never as the mean of the
    periods' ratios: a quiet hour must not weigh as much as a busy one.
    """
    requests = hits = misses = e4 = e5 = 0
    weighted = 0.0
    weight = 0
    for p in periods:
        requests += p.requests
        hits += p.cache_hits
        misses += p.cache_misses
        e4 += p.errors_4xx
        e5 += p.errors_5xx
        if p.latency_avg_ms is not None and p.requests:
            weighted += p.latency_avg_ms * p.requests
            weight += p.requests
    return ApiTotals(requests, hits, misses, e4, e5, weighted / weight if weight else None)


@dataclass(frozen=True)
class ModelCount:
    """How many times the selector returned ``model_code`` in one time bin.

    ``batch_id`` is the parameter batch the selections were served under (None: no batch, or a
    log line from before batch ids were logged). ``first_members`` counts the selections that
    were their member's first of the experiment in the queried window -- the assignment unit
    of hashed tests -- when the source can tell (None otherwise).
    """

    bin_start: datetime
    experiment_id: str | None
    model_code: str
    reason: str
    count: int
    batch_id: str | None = None
    first_members: int | None = None


@dataclass(frozen=True)
class ServiceNode:
    """One node of the X-Ray service map, summarised over the window.

    ``errors`` are 4xx (client errors, throttles included), ``faults`` 5xx, as X-Ray counts them.
    """

    name: str
    type: str
    requests: int
    ok: int
    errors: int
    throttles: int
    faults: int
    mean_latency_ms: float | None
    traces: int = 0
    traces_with_fault: int = 0
    traces_with_error: int = 0
    max_trace_ms: float | None = None


@dataclass(frozen=True)
class Selection:
    """One selection as the selector logged it (only the fields operations needs)."""

    at: datetime
    experiment_id: str | None
    model_code: str
    reason: str
    batch_id: str | None = None
    member_hash: str | None = None


#: The selector's JSON log keys, in order of preference: the first present wins.
_EXPERIMENT_KEYS = ("experiment_id", "experiment")
_TIME_KEYS = ("timestamp", "time", "at")


def parse_selection(line: str | Mapping[str, Any], at: datetime | None = None) -> Selection | None:
    """A selection from one structured log line; ``None`` for any other line.

    Args:
        line: The JSON text of the line, or the already-decoded mapping.
        at: The line's time when the log store keeps it beside the message (CloudWatch's
            event timestamp); otherwise it is read from the line itself.
    """
    if isinstance(line, str):
        try:
            data = json.loads(line)
        except ValueError:
            return None
    else:
        data = line
    if not isinstance(data, Mapping):
        return None
    model = data.get("model_code")
    reason = data.get("reason")
    if not isinstance(model, str) or not model or not isinstance(reason, str):
        return None
    experiment = next((data[k] for k in _EXPERIMENT_KEYS if data.get(k)), None)
    when = (
        at
        if at is not None
        else _parse_time(next((data[k] for k in _TIME_KEYS if k in data), None))
    )
    if when is None:
        return None
    batch = data.get("batch_id")
    member = data.get("member_hash")
    return Selection(
        naive_utc(when),
        str(experiment) if experiment else None,
        model,
        reason,
        batch if isinstance(batch, str) and batch else None,
        member if isinstance(member, str) and member else None,
    )


def _parse_time(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        # Epoch seconds or milliseconds; milliseconds are what CloudWatch and Powertools use.
        seconds = value / 1000 if value > 1e11 else value
        return datetime.fromtimestamp(seconds, UTC).replace(tzinfo=None)
    if isinstance(value, str):
        text = value.replace("Z", "+00:00").replace(",", ".")
        try:
            return naive_utc(datetime.fromisoformat(text))
        except ValueError:
            return None
    return None


def count_selections(selections: Iterable[Selection], bin_seconds: int) -> list[ModelCount]:
    """Count selections per (bin, experiment, model, reason, batch): Logs Insights' ``stats``.

    Also counts, per group, the selections that were their member's first of the experiment
    in the selections given (by time); ``None`` for a group whose lines carry no member hash.

    Returns:
        The counts sorted by bin, experiment, model, reason and batch.
    """
    check_period(bin_seconds)
    counter: Counter[tuple[datetime, str | None, str, str, str | None]] = Counter()
    firsts: Counter[tuple[datetime, str | None, str, str, str | None]] = Counter()
    hashed: set[tuple[datetime, str | None, str, str, str | None]] = set()
    seen: set[tuple[str | None, str]] = set()
    for s in sorted(selections, key=lambda s: s.at):
        key = (period_start(s.at, bin_seconds), s.experiment_id, s.model_code, s.reason, s.batch_id)
        counter[key] += 1
        if s.member_hash is None:
            continue
        hashed.add(key)
        if (s.experiment_id, s.member_hash) not in seen:
            seen.add((s.experiment_id, s.member_hash))
            firsts[key] += 1
    out = []
    for key, n in sorted(counter.items(), key=lambda kv: _sort_key(kv[0])):
        bin_start, experiment_id, model_code, reason, batch_id = key
        first = firsts[key] if key in hashed else None
        out.append(ModelCount(bin_start, experiment_id, model_code, reason, n, batch_id, first))
    return out


def _sort_key(
    key: tuple[datetime, str | None, str, str, str | None],
) -> tuple[datetime, str, str, str, str]:
    return key[0], key[1] or "", key[2], key[3], key[4] or ""


def served_per_model(
    counts: Sequence[ModelCount], experiment_id: str, *, reasons: frozenset[str] = SPLIT_REASONS
) -> dict[datetime, dict[str, int]]:
    """``{bin: {model_code: count}}`` of one experiment: the selections that follow its split."""
    out: dict[datetime, dict[str, int]] = {}
    for c in counts:
        if c.experiment_id != experiment_id or c.reason not in reasons:
            continue
        per_model = out.setdefault(c.bin_start, {})
        per_model[c.model_code] = per_model.get(c.model_code, 0) + c.count
    return dict(sorted(out.items()))
