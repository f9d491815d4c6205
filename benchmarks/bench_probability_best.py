"""Time dynab's P(best) and expected-loss integrals against the Monte Carlo cross-check.

Prints the median wall time over repeats for 2, 5 and 10 arms at 1e3, 1e6 and 1e8 impressions
per arm, with CTRs a fraction of a posterior standard deviation apart (the expensive case: every
arm's quantiles cut the others' ranges). Reports figures only; it asserts nothing about time.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import numpy as np

from services.statistics import (
    expected_loss,
    probability_best,
    probability_best_mc,
)

ARMS = (2, 5, 10)
IMPRESSIONS = (1e3, 1e6, 1e8)
REPEATS = 7
MC_DRAWS = 200_000


def arms(k: int, impressions: float) -> tuple[np.ndarray, np.ndarray]:
    """K arms around a 5% CTR, spread over about one posterior standard deviation."""
    sd = np.sqrt(0.05 * 0.95 / impressions)
    ctr = 0.05 + sd * np.linspace(-0.5, 0.5, k)
    clicks = np.round(ctr * impressions)
    return 1.0 + clicks, 1.0 + impressions - clicks


def median_ms(call: Callable[[], object], repeats: int = REPEATS) -> float:
    """Median wall time of ``call`` in milliseconds, after one warm-up call."""
    call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def main() -> None:
    print(f"median of {REPEATS} runs, milliseconds")
    print(
        f"{'arms':>4} {'impressions':>11} {'probability_best':>17} {'expected_loss':>14} "
        f"{'mc 200k draws':>14} {'max |exact - mc| / se':>22}"
    )
    for k in ARMS:
        for impressions in IMPRESSIONS:
            a, b = arms(k, impressions)
            exact_ms = median_ms(lambda a=a, b=b: probability_best(a, b))
            loss_ms = median_ms(lambda a=a, b=b: expected_loss(a, b))
            mc_ms = median_ms(
                lambda a=a, b=b: probability_best_mc(a, b, draws=MC_DRAWS, seed=1), repeats=3
            )
            mc = probability_best_mc(a, b, draws=MC_DRAWS, seed=1)
            z = np.max(np.abs(probability_best(a, b) - mc.p) / np.maximum(mc.stderr, 1e-12))
            print(
                f"{k:>4} {impressions:>11.0e} {exact_ms:>17.2f} {loss_ms:>14.2f} "
                f"{mc_ms:>14.1f} {z:>22.2f}"
            )
    print("rerun: .venv/bin/python benchmarks/bench_probability_best.py")


if __name__ == "__main__":
    main()
