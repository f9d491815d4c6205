"""What the lab reports about decisions: per algorithm and estimator, under the decision rule.

For every simulated algorithm the lab applies the experiment's decision rule
(:mod:`services.statistics.decision`) hour by hour to two estimators of the arms' CTRs, on all
the evidence since the start:

* ``pooled`` -- ``clicks / impressions`` per arm, ``Beta(1 + clicks, 1 + non-clicks)``;
* ``stratified`` -- the hour-stratified CTR and its moment-matched Beta
  (:mod:`services.statistics.stratified`).

and reports, per (algorithm, estimator): clicks lost, the share of seeds declared ``winner``
(with identical models: the false-winner rate), the share that declared the truly best model,
``no-difference``, the median hours to a decision, and the bias of the A - B estimate (mean
over seeds and over every hour after warm-up of estimate minus truth).

Window figures (:func:`window_figures`) describe the traffic: the weaker model's share on a
given day, and stability (mean hour-to-hour change of a model's share).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from services.simulation.simulator import SimulationResult


@dataclass(frozen=True)
class DecisionRow:
    """One (algorithm, estimator)'s decision figures over all seeds of a scenario."""

    algorithm: str
    estimator: str
    regret: float
    winner: float
    correct: float
    no_difference: float
    median_hours: float
    bias_pp: float
    seeds: int


def decision_rows(results: Sequence[SimulationResult]) -> list[DecisionRow]:
    """Two rows (pooled, stratified) per simulated algorithm."""
    rows = []
    for r in results:
        best = r.scenario.best_arm
        for est, d in r.decisions.items():
            won = d.winner
            hours = d.decided_hour[won]
            live = d.live
            err = d.ab_estimate - d.ab_truth[None, :]
            bias = float(err[live].mean()) * 100 if live.any() else math.nan
            rows.append(
                DecisionRow(
                    algorithm=r.label,
                    estimator=est,
                    regret=float(r.regret[:, -1].mean()),
                    winner=float(won.mean()),
                    correct=float((won & (d.arm == best)).mean()) if best is not None else 0.0,
                    no_difference=float(d.no_difference.mean()),
                    median_hours=float(np.median(hours)) if hours.size else math.nan,
                    bias_pp=bias,
                    seeds=r.scenario.n_seeds,
                )
            )
    return rows


def decision_frame(rows: Sequence[DecisionRow]) -> pd.DataFrame:
    """The decision rows as a table with readable column names."""
    return pd.DataFrame(
        {
            "algorithm": [r.algorithm for r in rows],
            "estimator": [r.estimator for r in rows],
            "clicks lost": [r.regret for r in rows],
            "winner declared": [r.winner for r in rows],
            "correct winner": [r.correct for r in rows],
            "no difference": [r.no_difference for r in rows],
            "median hours to decision": [r.median_hours for r in rows],
            "A-B bias (pp)": [r.bias_pp for r in rows],
            "seeds": [r.seeds for r in rows],
        }
    )


def _fmt(value: float, spec: str) -> str:
    return "-" if math.isnan(value) else format(value, spec)


def format_decisions(rows: Sequence[DecisionRow]) -> str:
    """The decision rows as a fixed-width text table."""
    header = (
        f"{'algorithm':<34}{'estimator':>11}{'clicks lost':>12}{'winner':>8}{'correct':>9}"
        f"{'no-diff':>9}{'hours':>7}{'A-B bias pp':>13}"
    )
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(
            f"{r.algorithm:<34}{r.estimator:>11}{_fmt(r.regret, ',.0f'):>12}"
            f"{_fmt(r.winner, '.1%'):>8}{_fmt(r.correct, '.1%'):>9}"
            f"{_fmt(r.no_difference, '.1%'):>9}{_fmt(r.median_hours, '.0f'):>7}"
            f"{_fmt(r.bias_pp, '+.3f'):>13}"
        )
    return "\n".join(lines)


@dataclass(frozen=True)
class WindowFigures:
    """Traffic figures of one run, for comparing evaluation windows.

    Attributes:
        algorithm: The algorithm's label (its window is part of it).
        regret: Mean clicks lost per seed over the horizon.
        weaker_share: Mean share of the weaker models' traffic on each requested day.
        stability: Mean absolute hour-to-hour change of the best arm's share (after warm-up).
    """

    algorithm: str
    regret: float
    weaker_share: dict[int, float]
    stability: float


def window_figures(
    result: SimulationResult, days: Sequence[int] = (7, 30), from_hour: int = 24
) -> WindowFigures:
    """Regret, the weaker models' share on ``days`` (1-based) and hour-to-hour stability.

    The weaker models are all but the best arm at the end (with drift, the post-drift best).
    """
    best = result.scenario.best_arm
    alloc = result.allocation
    shares = {}
    for day in days:
        lo, hi = (day - 1) * 24, day * 24
        if best is None or hi > alloc.shape[1]:
            shares[day] = math.nan
        else:
            shares[day] = float(1.0 - alloc[:, lo:hi, best].mean())
    arm = 0 if best is None else best
    change = np.abs(np.diff(alloc[:, from_hour:, arm], axis=1))
    return WindowFigures(
        algorithm=result.label,
        regret=float(result.regret[:, -1].mean()),
        weaker_share=shares,
        stability=float(change.mean()) if change.size else math.nan,
    )
