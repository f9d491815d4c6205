"""Benchmark of the parameter job's MongoDB writes on the embedded server (20 x 10 arms).

Run:  .venv/bin/python benchmarks/bench_job_writes.py

Times, with 100 hours of history already stored (20,000 hourly documents):
``replace_hourly_metrics`` of two hours (400 documents: the look-back hour and the new one) over
existing and over new hours, and ``save_parameter_batch`` for the 20 experiments. Medians of 3.
It prints figures; it asserts nothing about time.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from services.clock import FixedClock
from services.hourly_metrics import HourlyMetric
from services.mongo.embedded import EmbeddedMongo
from services.mongo.repository import MongoStore, connect
from services.parameters import BatchArm, ParameterBatch

START = datetime(2026, 11, 1)
EXPERIMENTS, ARMS = 20, 10


def rows(exp: str, hours: list[datetime]) -> list[HourlyMetric]:
    return [HourlyMetric(exp, f"M{a}", h, 100, 5) for h in hours for a in range(ARMS)]


def timed(label: str, fn: Callable[[], None], runs: int = 3) -> None:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    runs_text = ", ".join(f"{x:.3f}" for x in times)
    print(f"{label}: median {statistics.median(times):.3f} s ({runs_text})")


def main() -> int:
    print("rerun: .venv/bin/python benchmarks/bench_job_writes.py")
    mongo = EmbeddedMongo(data_dir=Path(tempfile.mkdtemp(prefix="dynab-writes-"))).start()
    try:
        store = MongoStore(connect(mongo.uri, db_name="writes"), FixedClock(START))
        store.ensure_indexes()
        hours = [START + timedelta(hours=i) for i in range(100)]
        for e in range(EXPERIMENTS):
            store.replace_hourly_metrics(f"E{e}", hours, rows(f"E{e}", hours))
        last = hours[-2:]
        timed(
            "replace 2 existing hours x 10 arms x 20 experiments",
            lambda: [
                store.replace_hourly_metrics(f"E{e}", last, rows(f"E{e}", last))
                for e in range(EXPERIMENTS)
            ],
        )
        fresh = iter(range(1000))

        def new_hours() -> None:
            k = next(fresh)
            span = [START + timedelta(hours=300 + 2 * k + i) for i in range(2)]
            for e in range(EXPERIMENTS):
                store.replace_hourly_metrics(f"E{e}", span, rows(f"E{e}", span))

        timed("replace 2 new hours x 10 arms x 20 experiments", new_hours)

        def batches() -> None:
            for e in range(EXPERIMENTS):
                arms = tuple(BatchArm(f"M{a}", 5, 95, 0.1, 0.1) for a in range(ARMS))
                end = START + timedelta(hours=24)
                store.save_parameter_batch(ParameterBatch(f"E{e}", "b1", START, end, arms, False))

        timed("save_parameter_batch x 20 experiments", batches)
    finally:
        mongo.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
