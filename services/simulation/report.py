"""What the lab reports: one summary row per algorithm, and hourly timelines for charts.

The summary answers the questions asked before a test starts:

* **regret vs static** -- clicks lost against always serving the best arm, as a multiple of
  the static split's loss in the same scenario (0.4 = the algorithm loses 40% of what the
  static test loses);
* **weaker share** -- the share of all traffic served by arms other than the best (with two
  arms: the weaker model's share);
* **identified / correct / hours** -- the share of seeds that ended the test with a winner at
  P(best) >= threshold, the share whose winner was the truly best arm, and the median hours
  elapsed from which that winner stayed declared (among seeds that identified one).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from services.simulation.scenario import Algorithm, Scenario, StaticSplit
from services.simulation.simulator import SimulationResult, simulate


@dataclass(frozen=True)
class SummaryRow:
    """One algorithm's figures over all seeds of a scenario.

    Attributes:
        algorithm: The algorithm's label.
        regret: Mean expected clicks lost per seed over the horizon.
        regret_vs_static: ``regret`` divided by the static split's; NaN without a static run
            or when the static split loses nothing (identical arms).
        weaker_share: Mean share of traffic served by arms other than the best (NaN when no
            arm is strictly best).
        identified: Share of seeds that declared a winner by the end.
        correct: Share of seeds that declared the truly best arm.
        median_hours: Median hours to identify, among the seeds that did (NaN if none).
        first_crossing: Share of seeds in which some arm reached the threshold at least once
            -- the rate at which stopping at the first crossing would declare a winner.
        seeds: Seeds simulated.
        seed: The scenario's seed.
    """

    algorithm: str
    regret: float
    regret_vs_static: float
    weaker_share: float
    identified: float
    correct: float
    median_hours: float
    first_crossing: float
    seeds: int
    seed: int


def compare(
    scenario: Scenario,
    algorithms: Sequence[Algorithm],
    progress: Callable[[str, int, int], None] | None = None,
) -> list[SimulationResult]:
    """Simulate every algorithm on the same scenario (same seed for each).

    Args:
        scenario: The world and the seeds.
        algorithms: The algorithms to compare, in table order.
        progress: Optional callback ``(algorithm label, hours done, hours in total)``.
    """
    results = []
    for algorithm in algorithms:
        hook = None
        if progress is not None:
            label = algorithm.label

            def hook(done: int, total: int, label: str = label) -> None:
                progress(label, done, total)

        results.append(simulate(scenario, algorithm, hook))
    return results


def _row(result: SimulationResult, baseline: float) -> SummaryRow:
    scenario = result.scenario
    regret = float(result.regret[:, -1].mean())
    best = scenario.best_arm
    if best is None:
        weaker = math.nan
    else:
        totals = result.impressions.sum(axis=1)  # (S, K)
        weaker = float((1.0 - totals[:, best] / totals.sum(axis=1)).mean())
    hours = result.identified_hour[result.identified]
    return SummaryRow(
        algorithm=result.label,
        regret=regret,
        regret_vs_static=regret / baseline if baseline > 0 else math.nan,
        weaker_share=weaker,
        identified=float(result.identified.mean()),
        correct=float(result.correct.mean()),
        median_hours=float(np.median(hours)) if hours.size else math.nan,
        first_crossing=float(np.isfinite(result.first_crossing_hour).mean()),
        seeds=scenario.n_seeds,
        seed=scenario.seed,
    )


def summarise(results: Sequence[SimulationResult]) -> list[SummaryRow]:
    """One row per result; regret is compared with the first static split among them."""
    static = [r for r in results if isinstance(r.algorithm, StaticSplit)]
    baseline = float(static[0].regret[:, -1].mean()) if static else math.nan
    return [_row(r, baseline) for r in results]


def summary_frame(rows: Sequence[SummaryRow]) -> pd.DataFrame:
    """The summary as a table with readable column names (also the CSV layout)."""
    return pd.DataFrame(
        {
            "algorithm": [r.algorithm for r in rows],
            "clicks lost": [r.regret for r in rows],
            "regret vs static": [r.regret_vs_static for r in rows],
            "weaker share": [r.weaker_share for r in rows],
            "identified": [r.identified for r in rows],
            "correct": [r.correct for r in rows],
            "median hours to identify": [r.median_hours for r in rows],
            "ever crossed": [r.first_crossing for r in rows],
            "seeds": [r.seeds for r in rows],
            "seed": [r.seed for r in rows],
        }
    )


def _fmt(value: float, spec: str) -> str:
    return "-" if math.isnan(value) else format(value, spec)


def format_table(rows: Sequence[SummaryRow]) -> str:
    """The summary as a fixed-width text table for the terminal."""
    header = (
        f"{'algorithm':<22}{'clicks lost':>12}{'vs static':>10}{'weaker':>8}"
        f"{'identified':>11}{'correct':>9}{'hours':>7}{'crossed':>9}"
    )
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(
            f"{r.algorithm:<22}{_fmt(r.regret, ',.0f'):>12}{_fmt(r.regret_vs_static, '.2f'):>10}"
            f"{_fmt(r.weaker_share, '.1%'):>8}{_fmt(r.identified, '.0%'):>11}"
            f"{_fmt(r.correct, '.0%'):>9}{_fmt(r.median_hours, '.0f'):>7}"
            f"{_fmt(r.first_crossing, '.0%'):>9}"
        )
    return "\n".join(lines)


def timeline_frame(results: Sequence[SimulationResult]) -> pd.DataFrame:
    """Hourly means over seeds, long format, for charts.

    Columns: ``algorithm``, ``hour`` (hours elapsed), ``arm``, ``allocation`` (share of that
    hour's traffic), ``exposure`` (share of all traffic so far), ``regret`` (cumulative clicks
    lost, repeated for every arm) and ``identified`` (share of seeds whose final winner is
    already declared).
    """
    frames = []
    for r in results:
        h = r.impressions.shape[1]
        hours = np.arange(1, h + 1)
        identified = (r.identified_hour[:, None] <= hours[None, :]).mean(axis=0)
        allocation = r.allocation.mean(axis=0)
        exposure = r.exposure.mean(axis=0)
        regret = r.regret.mean(axis=0)
        for arm, name in enumerate(r.scenario.names):
            frames.append(
                pd.DataFrame(
                    {
                        "algorithm": r.label,
                        "hour": hours,
                        "arm": name,
                        "allocation": allocation[:, arm],
                        "exposure": exposure[:, arm],
                        "regret": regret,
                        "identified": identified,
                    }
                )
            )
    return pd.concat(frames, ignore_index=True)
