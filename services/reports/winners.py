"""Who wins: per day on that day's data, and right now over the evaluation window."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
import pandas as pd

from services.hourly_metrics import HourlyMetric
from services.reports.hourly import counts_by_model
from services.statistics import (
    ArmCounts,
    Lift,
    expected_loss,
    lift_over_control,
    probability_best_from_counts,
)
from services.statistics.posterior import BetaPosterior

DAILY_COLUMNS = ["day", "model_code", "impressions", "clicks", "ctr", "p_best", "leader"]


def daily_winner_frame(metrics: Iterable[HourlyMetric], model_codes: Sequence[str]) -> pd.DataFrame:
    """One row per (day, model) with that day's counts, CTR and P(best), newest day first.

    P(best) uses only the day's own counts (Beta(1 + clicks, 1 + non-clicks) per model), so a
    day's leader does not lean on earlier days. ``leader`` marks the model with the highest
    P(best); a day on which no model had an impression has no leader. A day's leader is not a
    decision: only the experiment's decision rule declares a winner
    (:mod:`services.reports.decision`).
    """
    by_day: dict[date, list[HourlyMetric]] = defaultdict(list)
    for m in metrics:
        by_day[m.hour.date()].append(m)
    rows: list[dict[str, object]] = []
    for day in sorted(by_day, reverse=True):
        counts = counts_by_model(by_day[day], model_codes)
        arms = [counts[code] for code in model_codes]
        p_best = probability_best_from_counts(arms)
        best = int(np.argmax(p_best)) if any(c.impressions for c in arms) else -1
        for i, code in enumerate(model_codes):
            rows.append(
                {
                    "day": day,
                    "model_code": code,
                    "impressions": arms[i].impressions,
                    "clicks": arms[i].clicks,
                    "ctr": arms[i].ctr,
                    "p_best": float(p_best[i]),
                    "leader": i == best,
                }
            )
    return pd.DataFrame(rows, columns=DAILY_COLUMNS)


def daily_winner_summary(daily: pd.DataFrame) -> pd.DataFrame:
    """One row per day: the day's leader, its CTR and P(best) (from :func:`daily_winner_frame`)."""
    leaders = daily[daily["leader"]]
    return (
        leaders[["day", "model_code", "ctr", "p_best"]]
        .rename(columns={"model_code": "leader"})
        .reset_index(drop=True)
    )


@dataclass(frozen=True)
class ArmLift:
    """One model's standing over the window; ``lift`` is None for the control itself."""

    model_code: str
    counts: ArmCounts
    posterior: BetaPosterior
    p_best: float
    expected_loss: float
    lift: Lift | None


@dataclass(frozen=True)
class RealtimeWinner:
    """The standing over the current evaluation window ``[window_start, window_end)``."""

    window_start: datetime
    window_end: datetime
    control: str
    arms: tuple[ArmLift, ...]
    seed: int

    @property
    def leader(self) -> ArmLift | None:
        """The model with the highest P(best), or None before the first impression."""
        if not any(arm.counts.impressions for arm in self.arms):
            return None
        return max(self.arms, key=lambda arm: arm.p_best)

    def frame(self) -> pd.DataFrame:
        rows = []
        for arm in self.arms:
            low, high = arm.posterior.credible_interval(0.95)
            rows.append(
                {
                    "model_code": arm.model_code,
                    "control": arm.model_code == self.control,
                    "impressions": arm.counts.impressions,
                    "clicks": arm.counts.clicks,
                    "ctr": arm.counts.ctr,
                    "ctr_low": low,
                    "ctr_high": high,
                    "p_best": arm.p_best,
                    "expected_loss": arm.expected_loss,
                    "lift": arm.lift.mean if arm.lift else None,
                    "lift_low": arm.lift.low if arm.lift else None,
                    "lift_high": arm.lift.high if arm.lift else None,
                    "p_better_than_control": arm.lift.probability_better if arm.lift else None,
                }
            )
        return pd.DataFrame(rows)


def realtime_winner(
    counts: Mapping[str, ArmCounts],
    control: str,
    window_start: datetime,
    window_end: datetime,
    *,
    seed: int = 0,
    draws: int = 50_000,
) -> RealtimeWinner:
    """P(best), expected loss and lift over ``control`` for each model's window counts.

    Args:
        counts: Counts per model over the window, in the experiment's arm order.
        control: The control model's code (a key of ``counts``).
        window_start: First hour of the window (shown with the result).
        window_end: End of the window, exclusive.
        seed: Seed of the Monte Carlo credible interval of the lift; fixed so that a reload
            shows the same interval, and returned with the result.
        draws: Monte Carlo draws of that interval.
    """
    if control not in counts:
        raise ValueError(f"control {control!r} is not one of {sorted(counts)}")
    codes = list(counts)
    posteriors = {code: BetaPosterior.from_counts(counts[code]) for code in codes}
    a = [posteriors[c].a for c in codes]
    b = [posteriors[c].b for c in codes]
    p_best = probability_best_from_counts([counts[c] for c in codes])
    loss = expected_loss(a, b)
    arms = tuple(
        ArmLift(
            model_code=code,
            counts=counts[code],
            posterior=posteriors[code],
            p_best=float(p_best[i]),
            expected_loss=float(loss[i]),
            lift=None
            if code == control
            else lift_over_control(posteriors[control], posteriors[code], draws=draws, seed=seed),
        )
        for i, code in enumerate(codes)
    )
    return RealtimeWinner(window_start, window_end, control, arms, seed)
