"""Orders per impression per model, with a 95 % interval: the orders guard's metric, shown beside
the CTR on Live CTR, Winners and Posteriors.

Pooled over the hours given (like the CTR totals beside it) with the Wilson score interval,
which stays inside [0, 1] and behaves at the small rates orders have (a few per thousand).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import pandas as pd

#: The normal quantile of a two-sided 95 % interval.
Z95 = 1.959963984540054

#: Columns of :func:`order_rate_frame`, in order.
COLUMNS = [
    "model_code",
    "impressions",
    "clicks",
    "ctr",
    "orders",
    "order_rate",
    "order_rate_low",
    "order_rate_high",
]


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float] | None:
    """The Wilson score interval of ``successes / n``; None when ``n`` is 0."""
    if n <= 0:
        return None
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def _get(row: Any, name: str) -> Any:
    return row.get(name) if isinstance(row, dict) else getattr(row, name, None)


def order_rate_frame(
    rows: Iterable[Any],
    model_codes: Sequence[str],
    *,
    start: datetime | None = None,
    end: datetime | None = None,
) -> pd.DataFrame:
    """One row per model (in ``model_codes`` order): counts over ``[start, end)``, CTR, order rate
    and its 95 % interval (None for a model without impressions)."""
    totals = {code: [0, 0, 0] for code in model_codes}
    for row in rows:
        code = _get(row, "model_code")
        hour = _get(row, "hour")
        if code not in totals or (start is not None and hour < start):
            continue
        if end is not None and hour >= end:
            continue
        t = totals[code]
        t[0] += int(_get(row, "impressions") or 0)
        t[1] += int(_get(row, "clicks") or 0)
        t[2] += int(_get(row, "orders") or 0)
    out = []
    for code in model_codes:
        n, clicks, orders = totals[code]
        interval = wilson_interval(orders, n)
        out.append(
            {
                "model_code": code,
                "impressions": n,
                "clicks": clicks,
                "ctr": clicks / n if n else None,
                "orders": orders,
                "order_rate": orders / n if n else None,
                "order_rate_low": interval[0] if interval else None,
                "order_rate_high": interval[1] if interval else None,
            }
        )
    return pd.DataFrame(out, columns=COLUMNS)
