"""The local gateway's collections (beside dynab's own, see :mod:`services.mongo.schema`).

* ``gateway_metrics``: per minute and gateway process, one document (``_id`` =
  ``gw-WRITER-SEGMENT|YYYY-MM-DDTHH:MM``) holding that process's totals for the minute, the figures
  API Gateway reports to CloudWatch: ``requests``, ``cache_hits``, ``cache_misses``,
  ``status_2xx``/``status_4xx``/``status_5xx``, ``latency_sum_ms`` and a latency histogram
  (``lat_00`` .. ``lat_NN``, counts per bucket of :data:`LATENCY_BOUNDS_MS`). The process
  rewrites its document with absolute values, so a retried write cannot count twice; readers add
  up a minute's documents (older single documents with ``_id`` = the minute add up the same way).
* ``selector_logs``: one document per selection the handler made (cache misses only, as Lambda
  logs), the record of :func:`services.serving.observability.selection_record` with ``at`` as a
  datetime and an ``_id`` the gateway chose before its first attempt to write it.
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


def writer_minute_id(writer: str, segment: str, minute: object) -> str:
    """The ``_id`` of one process's document for ``minute``.

    It starts with ``gw-``, not the minute: the embedded server fails to match a string ``_id``
    that begins with a date and time followed by more text when an upsert replaces it.
    """
    return f"gw-{writer}-{segment}|{minute_id(minute)}"


def ensure_indexes(db: Database) -> None:
    db[GATEWAY_METRICS].create_index([("minute", ASCENDING)])
    db[SELECTOR_LOGS].create_index([("at", ASCENDING)])
