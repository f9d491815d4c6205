"""Benchmark of the simulation lab on the seed's scenario.

Model A at 6.7% CTR against model B at 5.8%, 1,500 impressions an hour, 7 days, 200 seeds:
each algorithm's clicks lost relative to the static 5:5 test, the weaker model's share of
traffic, and the time to identify the winner; then the simulator's speed, and why the
simulator computes P(best) on a grid rather than by Monte Carlo or the exact function.

Run: ``.venv/bin/python benchmarks/bench_simulation.py`` (about a minute on one core).
"""

from __future__ import annotations

import time

import numpy as np

from services.simulation import (
    UCB1,
    BatchedThompson,
    EpsilonGreedy,
    Scenario,
    StaticSplit,
    Thompson,
    format_table,
    simulate,
    summarise,
)
from services.simulation.pbest import probability_best_draws, probability_best_grid
from services.statistics import probability_best

COMMAND = "dynab simulate --ctrs 0.067,0.058 --impressions-per-hour 1500 --days 7 --seeds 200"
SCENARIO = Scenario(ctrs=(0.067, 0.058), impressions_per_hour=1500, hours=7 * 24, n_seeds=200)
ALGORITHMS = [
    StaticSplit((5, 5)),
    EpsilonGreedy(0.1),
    UCB1(),
    Thompson(),
    BatchedThompson(),
    BatchedThompson(floor=0.05),
]


def bench_algorithms() -> None:
    results, speeds = [], []
    for algorithm in ALGORITHMS:
        start = time.perf_counter()
        result = simulate(SCENARIO, algorithm)
        seconds = time.perf_counter() - start
        results.append(result)
        served = int(result.impressions.sum())
        speeds.append((algorithm.label, served, seconds))
    print("Seed's scenario: 6.7% vs 5.8%, 1,500 impressions/hour, 7 days, 200 seeds, seed 0")
    print(f"(rerun: .venv/bin/python benchmarks/bench_simulation.py, or {COMMAND})\n")
    print(format_table(summarise(results)))
    print("\nSimulator speed (simulated impressions per second, one process):")
    for label, served, seconds in speeds:
        print(
            f"  {label:<22}{served:>13,} impressions in {seconds:5.1f} s = "
            f"{served / seconds:>12,.0f} /s"
        )


def bench_probability_best() -> None:
    # A mid-test state for 200 seeds: about a day of traffic per arm.
    rng = np.random.default_rng(1)
    imps = rng.integers(5_000, 30_000, size=(200, 2))
    clicks = rng.binomial(imps, [0.067, 0.058])
    a, b = 1.0 + clicks, 1.0 + imps - clicks
    start = time.perf_counter()
    exact = np.array([probability_best(a[i], b[i]) for i in range(200)])
    t_exact = time.perf_counter() - start
    print("\nP(best) for 200 seeds x 2 arms (one batch):")
    print(f"  {'exact, per seed':<28}{t_exact * 1e3:8.1f} ms  max error 0 (reference)")
    start = time.perf_counter()
    grid = probability_best_grid(a, b)
    t_grid = time.perf_counter() - start
    err = np.abs(grid - exact).max()
    print(f"  {'grid (vectorised, chosen)':<28}{t_grid * 1e3:8.1f} ms  max error {err:.1e}")
    for draws in (1_000, 10_000):
        start = time.perf_counter()
        mc = probability_best_draws(a, b, draws, np.random.default_rng(0))
        t_mc = time.perf_counter() - start
        err = np.abs(mc - exact).max()
        label = f"Monte Carlo, {draws:,} draws"
        print(f"  {label:<28}{t_mc * 1e3:8.1f} ms  max error {err:.1e}")


if __name__ == "__main__":
    bench_algorithms()
    bench_probability_best()
