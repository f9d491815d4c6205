"""The local gateway's collections (beside dynab's own, see :mod:`services.mongo.schema`).

* ``gateway_metrics``: one document per minute (``_id`` = ``YYYY-MM-DDTHH:MM``), the figures
  API Gateway reports to CloudWatch: ``requests``, ``cache_hits``, ``cache_misses``,
  ``status_2xx``/``status_4xx``/``status_5xx``, ``latency_sum_ms`` and a latency histogram
  (``lat_00`` .. ``lat_NN``, counts per bucket of :data:`LATENCY_BOUNDS_MS`). Every field is a
  count, so several gateway processes and several flushes add up with ``$inc``.
* ``selector_logs``: one document per selection the handler made (cache misses only, as Lambda
  logs), the record of :func:`services.serving.observability.selection_record` with ``at`` as a
  datetime.
"""

from __future__ import annotations

from pymongo import ASCENDING
from pymongo.database import Database

GATEWAY_METRICS = "gateway_metrics"
SELECTOR_LOGS = "selector_logs"

#: Upper bounds (milliseconds) of the latency histogram buckets; one more bucket holds the rest.
LATENCY_BOUNDS_MS: tuple[float, ...] = (
    0.25,
    0.5,
    0.75,
    1,
    1.5,
    2,
    3,
    5,
    7.5,
    10,
    15,
    20,
    30,
    50,
    75,
    100,
    150,
    200,
    300,
    500,
    750,
    1000,
    2000,
    5000,
    10000,
)
LATENCY_FIELDS: tuple[str, ...] = tuple(f"lat_{i:02d}" for i in range(len(LATENCY_BOUNDS_MS) + 1))
COUNT_FIELDS: tuple[str, ...] = (
    "requests",
    "cache_hits",
    "cache_misses",
    "status_2xx",
    "status_4xx",
    "status_5xx",
)


def minute_id(minute: object) -> str:
    return f"{minute:%Y-%m-%dT%H:%M}"


def ensure_indexes(db: Database) -> None:
    db[GATEWAY_METRICS].create_index([("minute", ASCENDING)])
    db[SELECTOR_LOGS].create_index([("at", ASCENDING)])
