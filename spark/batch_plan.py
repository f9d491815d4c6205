"""Which hours a batch parses, reads back and rewrites: pure functions of the job's records.

A batch *processes* every hour since the horizon that it has not processed yet (the newest hour
at steady state; every missed hour after an outage; a whole range with ``--rebuild``). Processing
hour H parses H's raw logs once. Because a click counts for its impression's hour when it comes
within the attribution window, hour H's clicks can change the figures of the ``lookback`` hours
before it, and a late-processed H can change the hours after it: those are *touched*, and their
hourly metrics are recomputed. Their events are *read back* from the compact copy written when
they were processed, as are the extra ``late_hours`` whose impressions only tell a late click
from an orphan.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.events.layout import hours_between

#: Records of hours that need no processing (``empty``: no partition when last looked).
SETTLED = frozenset({"done", "empty"})


@dataclass(frozen=True)
class BatchPlan:
    """The hours of one batch, each tuple sorted.

    Attributes:
        process: Hours parsed from the raw logs (their compact copy and counts are rewritten).
        touched: Hours whose hourly metrics are recomputed.
        read_back: Hours before or after ``process`` whose events are read (compact copy, or raw
            logs where there is none).
        horizon_start: The first hour the job keeps figures for.
    """

    process: tuple[datetime, ...]
    touched: tuple[datetime, ...]
    read_back: tuple[datetime, ...]
    horizon_start: datetime


def horizon_start(
    batch_end: datetime, horizon_hours: int, first_start: datetime | None
) -> datetime:
    """The later of ``batch_end - horizon`` and the hour the earliest running experiment started."""
    start = batch_end - timedelta(hours=horizon_hours)
    if first_start is not None:
        start = max(start, first_start.replace(minute=0, second=0, microsecond=0))
    return start


def unprocessed_hours(
    start: datetime,
    end: datetime,
    status: dict[datetime, str],
    *,
    recheck_empty_after: datetime,
) -> list[datetime]:
    """Hours in ``[start, end)`` not yet processed. An hour found empty is looked at again while
    it is at or after ``recheck_empty_after`` (a partition may arrive a little late)."""
    out = []
    for hour in hours_between(start, end):
        state = status.get(hour)
        if state == "done" or (state == "empty" and hour < recheck_empty_after):
            continue
        out.append(hour)
    return out


def plan_batch(
    process: Iterable[datetime],
    *,
    batch_end: datetime,
    horizon: datetime,
    lookback_hours: int,
    late_hours: int,
) -> BatchPlan:
    """Touched and read-back hours for processing ``process`` (hours with raw partitions)."""
    todo = sorted(set(process))
    if not todo:
        return BatchPlan((), (), (), horizon)
    touched: set[datetime] = set()
    for hour in todo:
        for k in range(-lookback_hours, lookback_hours + 1):
            other = hour + timedelta(hours=k)
            if horizon <= other < batch_end:
                touched.add(other)
    # New clicks need impressions back to the attribution window plus the late ones' hours.
    first = min(min(touched), todo[0] - timedelta(hours=lookback_hours + late_hours))
    last = max(touched) + timedelta(hours=lookback_hours + 1)
    read = set(hours_between(first, min(last, batch_end)))
    return BatchPlan(
        process=tuple(todo),
        touched=tuple(sorted(touched)),
        read_back=tuple(sorted(read - set(todo))),
        horizon_start=horizon,
    )
