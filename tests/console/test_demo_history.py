"""The demo set-up writes three days of synthetic history, once, with a daily cycle."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from dynab.demo import install_demo
from services.mongo.repository import MongoStore

NOW = datetime(2026, 11, 28, 9, 30)


def test_demo_writes_three_days_of_hourly_history_once(store: MongoStore) -> None:
    install_demo(store, history_days=3, now=NOW)
    metrics = store.hourly_metrics("EXP-01")
    hours = sorted({m.hour for m in metrics})
    assert len(hours) == 72 and hours[-1] == datetime(2026, 11, 28, 8)
    assert len(store.parameter_history("EXP-01")) > 0  # the dynamic test has batches
    assert store.hourly_metrics("EXP-02")  # the static one has metrics too
    # ... and batches at its configured split, as the parameter job writes them
    static = store.parameter_history("EXP-02")
    assert len(static) == 72
    assert {tuple(a.weight for a in b.arms) for b in static} == {(0.5, 0.5)}
    assert not any(b.warmup for b in static)
    # A daily cycle: the busiest hour of the day carries clearly more than the quietest.
    by_hour: dict[int, int] = defaultdict(int)
    for m in metrics:
        by_hour[m.hour.hour] += m.impressions
    assert max(by_hour.values()) > 1.3 * min(by_hour.values())
    # Idempotent: a second set-up leaves the history as it was.
    install_demo(store, history_days=3, now=datetime(2026, 11, 29, 9))
    again = store.hourly_metrics("EXP-01")
    assert sorted({m.hour for m in again}) == hours
    assert sum(m.impressions for m in again) == sum(m.impressions for m in metrics)


def test_demo_without_history_days_writes_none(store: MongoStore) -> None:
    install_demo(store)
    assert store.hourly_metrics("EXP-01") == []
