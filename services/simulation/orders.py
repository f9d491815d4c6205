"""Orders in the simulation lab: what each algorithm's allocation earns in orders.

The bandit learns from clicks only, so orders do not change the allocation: given each model's
order rate (orders per impression), an algorithm's expected orders follow from its traffic
shares. A model that wins on clicks but orders less shows here as orders lost against always
serving the model with the best order rate -- what the orders guard protects.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from services.exceptions import ValidationError


def check_order_rates(order_rates: Mapping[str, float], ctrs: Mapping[str, float]) -> None:
    """Each order rate in [0, that model's CTR] (an order follows a click)."""
    for name, rate in order_rates.items():
        if not 0.0 <= rate <= ctrs.get(name, 1.0):
            raise ValidationError(
                "order_rates",
                f"model {name}: order rate {rate:g} must be within [0, its CTR {ctrs[name]:g}]",
            )


def orders_frame(
    timeline: pd.DataFrame, order_rates: Mapping[str, float], impressions: int
) -> pd.DataFrame:
    """Per algorithm: expected orders, per 1,000 impressions, and lost against the best model.

    Args:
        timeline: :func:`~services.simulation.report.timeline_frame` (its last hour's
            ``exposure`` is each arm's share of all the run's traffic, mean over seeds).
        order_rates: Orders per impression of each arm (by arm name).
        impressions: Impressions of the whole run (per seed).
    """
    best = max(order_rates.values())
    rows = []
    for algorithm, part in timeline.groupby("algorithm", sort=False):
        last = part[part["hour"] == part["hour"].max()]
        rate = sum(
            float(r.exposure) * order_rates[str(r.arm)] for r in last.itertuples(index=False)
        )
        rows.append(
            {
                "algorithm": algorithm,
                "orders": rate * impressions,
                "orders per 1,000 impressions": rate * 1000,
                "orders lost vs best": (best - rate) * impressions,
            }
        )
    return pd.DataFrame(rows)
