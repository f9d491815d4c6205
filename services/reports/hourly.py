"""Hourly CTR, traffic share and cumulative CTR per model, as one tidy frame."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

import pandas as pd

from services.hourly_metrics import HourlyMetric
from services.statistics import ArmCounts

HOURLY_COLUMNS = [
    "hour",
    "model_code",
    "impressions",
    "clicks",
    "orders",
    "ctr",
    "traffic_share",
    "cumulative_impressions",
    "cumulative_clicks",
    "cumulative_ctr",
]


def hourly_frame(
    metrics: Iterable[HourlyMetric], model_codes: Sequence[str] | None = None
) -> pd.DataFrame:
    """One row per (hour, model): counts, CTR, the model's share of the hour's impressions, and
    CTR accumulated from the first hour shown.

    Args:
        metrics: Hourly rows of one experiment (any order).
        model_codes: The experiment's arms; an arm with no row in an hour gets zero counts that
            hour, so that lines and stacked areas do not skip it. Defaults to the models seen.

    Returns:
        A frame with ``HOURLY_COLUMNS``, sorted by hour then model; empty when there are no rows.
    """
    rows = [
        {
            "hour": m.hour,
            "model_code": m.model_code,
            "impressions": m.impressions,
            "clicks": m.clicks,
            "orders": m.orders,
        }
        for m in metrics
    ]
    if not rows:
        return pd.DataFrame({c: [] for c in HOURLY_COLUMNS})
    frame = pd.DataFrame(rows).groupby(["hour", "model_code"], as_index=False).sum()
    models = list(model_codes) if model_codes else sorted(frame["model_code"].unique())
    full = pd.MultiIndex.from_product(
        [sorted(frame["hour"].unique()), models], names=["hour", "model_code"]
    )
    frame = (
        frame.set_index(["hour", "model_code"])
        .reindex(full, fill_value=0)
        .reset_index()
        .astype({"impressions": "int64", "clicks": "int64", "orders": "int64"})
    )
    frame["ctr"] = _ratio(frame["clicks"], frame["impressions"])
    hour_total = frame.groupby("hour")["impressions"].transform("sum")
    frame["traffic_share"] = _ratio(frame["impressions"], hour_total)
    by_model = frame.groupby("model_code", sort=False)
    frame["cumulative_impressions"] = by_model["impressions"].cumsum()
    frame["cumulative_clicks"] = by_model["clicks"].cumsum()
    frame["cumulative_ctr"] = _ratio(frame["cumulative_clicks"], frame["cumulative_impressions"])
    return frame[HOURLY_COLUMNS].sort_values(["hour", "model_code"], ignore_index=True)


def _ratio(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    # An hour without impressions has no CTR and no share; 0.0 keeps the charts continuous.
    return (numerator / denominator.where(denominator > 0)).fillna(0.0).astype("float64")


def counts_by_model(
    metrics: Iterable[HourlyMetric], model_codes: Sequence[str]
) -> dict[str, ArmCounts]:
    """Summed counts per model, in ``model_codes`` order; a model without rows gets zeros."""
    totals = {code: ArmCounts(0, 0, 0) for code in model_codes}
    for m in metrics:
        if m.model_code in totals:
            totals[m.model_code] = totals[m.model_code] + ArmCounts(
                m.impressions, m.clicks, m.orders
            )
    return totals


def window_counts(
    metrics: Iterable[HourlyMetric],
    model_codes: Sequence[str],
    start: datetime,
    end: datetime,
) -> dict[str, ArmCounts]:
    """Counts per model over the hours in ``[start, end)``, e.g. an evaluation window."""
    return counts_by_model((m for m in metrics if start <= m.hour < end), model_codes)


def latest_window(
    metrics: Sequence[HourlyMetric], window_hours: int
) -> tuple[datetime, datetime] | None:
    """``[start, end)`` of the ``window_hours`` hours ending with the newest hour that has data.

    Pages anchor windows on the data, not on the wall clock, so that a demo on an accelerated
    clock and a replayed history show the same thing as production.
    """
    if not metrics:
        return None
    end = max(m.hour for m in metrics) + timedelta(hours=1)
    return end - timedelta(hours=window_hours), end
