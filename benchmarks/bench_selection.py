"""Cost of one select_model call, warm path (the batch's plan already cached).

Figures only, no assertions: run it on a quiet machine and compare runs on the same machine.
Each call is timed on its own with perf_counter_ns, so the figures include ~0.1 us of timer
overhead; "cold" is the first call of a batch (plan built: validation, buckets, and for sticky
mode the P(best) integration).

    .venv/bin/python benchmarks/bench_selection.py
"""

from __future__ import annotations

import statistics
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from services.experiments import Arm, Experiment, ExperimentType, ServingMode, Status
from services.parameters import ArmParameters, ParameterSnapshot
from services.selection import clear_cache, select_model

CALLS = 20_000
COLD_ROUNDS = 30
START = datetime(2026, 11, 28, 9)
NOW = START + timedelta(days=2)


def experiment(n_arms: int, kind: str) -> Experiment:
    arms = tuple(Arm(f"EXP-01-M{i}", weight=1 + i, control=(i == 0)) for i in range(n_arms))
    return Experiment(
        experiment_id="EXP-01",
        name="bench",
        area_code="main",
        type=ExperimentType.STATIC if kind == "static" else ExperimentType.DYNAMIC,
        arms=arms,
        serving_mode=ServingMode.STICKY if kind == "sticky" else ServingMode.DRAW,
        exposure_floor=0.01,
        status=Status.RUNNING,
        started_at=START,
    )


def snapshot(exp: Experiment) -> ParameterSnapshot:
    # Close click rates around 3%, 20k impressions each: a realistic, undecided race. No
    # stored weights, so the sticky cold path integrates P(best) itself.
    rng = np.random.default_rng(0)
    arms = []
    for code in exp.model_codes:
        clicks = int(rng.integers(550, 650))
        arms.append(ArmParameters(code, clicks, 20_000 - clicks))
    return ParameterSnapshot(exp.experiment_id, "B-001", tuple(arms), warmup=False)


def percentile(sorted_ns: list[int], q: float) -> float:
    return sorted_ns[min(len(sorted_ns) - 1, int(q * len(sorted_ns)))] / 1000


def bench(n_arms: int, kind: str) -> tuple[float, float, float, str]:
    exp, snap = experiment(n_arms, kind), snapshot(experiment(n_arms, kind))
    rng = np.random.default_rng(1)
    members = [f"member-{i}" for i in range(CALLS)]
    cold = []
    for _ in range(COLD_ROUNDS):
        clear_cache()
        t0 = time.perf_counter_ns()
        first = select_model(exp, snap, members[0], NOW, rng)
        cold.append(time.perf_counter_ns() - t0)
    timings = []
    for member in members:
        t0 = time.perf_counter_ns()
        select_model(exp, snap, member, NOW, rng)
        timings.append(time.perf_counter_ns() - t0)
    timings.sort()
    return (
        percentile(timings, 0.5),
        percentile(timings, 0.99),
        statistics.median(cold) / 1000,
        first.reason,
    )


def main() -> None:
    print(f"select_model, {CALLS:,} warm calls per row (us per call); cold = first call of a batch")
    print(f"{'arms':>4}  {'mode':<7} {'reason':<7} {'median':>8} {'p99':>8} {'cold':>9}")
    for n_arms in (2, 5, 10):
        for kind in ("draw", "sticky", "static"):
            median, p99, cold, reason = bench(n_arms, kind)
            print(f"{n_arms:>4}  {kind:<7} {reason:<7} {median:>8.2f} {p99:>8.2f} {cold:>9.1f}")
    print("\nrerun: .venv/bin/python benchmarks/bench_selection.py")


if __name__ == "__main__":
    main()
