"""What the parameter job hands the guardrails: a batch's volume and the serving figures.

Pure functions over the job's records (per-hour counts) and the operations figures the console
already computes (:mod:`services.ops.figures`), so that the data-quality rule judges *rates*
relative to volume and the serving-health rule reads the same numbers operators see.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from services.guardrails.evaluate import ServingHealth
from services.ops.figures import ApiPeriod, ModelCount

#: The selector's answer when it could not use the experiment (store down, bad stored data).
FALLBACK = "fallback"


def _get(row: Any, name: str) -> int:
    value = row.get(name, 0) if isinstance(row, Mapping) else getattr(row, name, 0)
    return int(value or 0)


def with_volume(
    counts: Mapping[str, Any],
    records: Iterable[Mapping[str, Any]],
    rows: Iterable[Any],
    experiment_id: str,
) -> dict[str, Any]:
    """``counts`` (data-quality counts of some hours) with the volume of those hours beside them.

    * ``lines``: the readable lines of the hours (all experiments: malformed lines name none,
      so the malformed rate is ``malformed_lines / (lines + malformed_lines)``);
    * ``events``: the experiment's own impressions, clicks and orders (duplicates relate to them);
    * ``clicks``: the experiment's clicks (orphan clicks relate to them).

    Args:
        records: The job's per-hour records of exactly those hours (``events`` = valid lines).
        rows: The experiment's hourly metrics of exactly those hours.
    """
    lines = sum(int(r.get("events", 0) or 0) for r in records)
    events = clicks = 0
    for row in rows:
        if (row.get("experiment_id") if isinstance(row, Mapping) else row.experiment_id) != (
            experiment_id
        ):
            continue
        clicks += _get(row, "clicks")
        events += _get(row, "impressions") + _get(row, "clicks") + _get(row, "orders")
    return {**counts, "lines": lines, "events": events, "clicks": clicks}


def serving_health(
    periods: Sequence[ApiPeriod], selections: Sequence[ModelCount]
) -> ServingHealth | None:
    """The selector's health over a window, from the operations figures.

    Requests are the API's (cache hits answer with the answer cached, so a cached fallback is
    still a fallback served); when the source has no request counts, the selector's own log
    lines are the requests. Fallbacks are the log lines with reason ``fallback``; 5xx the API's.
    None when nothing was served in the window.
    """
    requests = sum(p.requests for p in periods)
    answered = sum(c.count for c in selections)
    fallbacks = sum(c.count for c in selections if c.reason == FALLBACK)
    errors = sum(p.errors_5xx for p in periods)
    total = max(requests, answered)
    if total <= 0:
        return None
    return ServingHealth(requests=total, fallbacks=fallbacks, errors_5xx=errors)
