"""Collections and indexes of dynab's MongoDB database (documented in docs/storage.md).

Only the part of MongoDB that real MongoDB and the embedded server both handle is used: CRUD,
indexes, find with sort/limit, ``$set``/``$inc``, and upserts that match existing documents.
New documents are inserted with ``insert_one``/``insert_many``; aggregation is done in Python or
Spark.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.database import Database

AREAS = "areas"
EXPERIMENTS = "experiments"
ARM_PARAMETERS = "arm_parameters"
PARAMETER_BATCHES = "parameter_batches"
HOURLY_METRICS = "hourly_metrics"
AUDIT_LOG = "audit_log"
#: The parameter job's record of the hours it processed, and its lease.
JOB_HOURS = "job_hours"
JOB_LEASES = "job_leases"
INCIDENTS = "incidents"
#: The parameter job's small state documents: ``members``, the live generations of its member
#: state (spark/members.py).
JOB_STATE = "job_state"
#: One document per (experiment, day): the day's hourly counts and decision path (the console's
#: read, kept where hourly metrics are replaced: services/mongo/rollups.py).
DAILY_METRICS = "daily_metrics"
#: The experiments whose daily roll-ups are complete.
DAILY_METRICS_STATE = "daily_metrics_state"

#: collection -> list of (keys, options)
INDEXES: dict[str, list[tuple[list[tuple[str, int]], dict[str, object]]]] = {
    EXPERIMENTS: [
        ([("area_code", ASCENDING), ("status", ASCENDING)], {}),
        ([("status", ASCENDING)], {}),
    ],
    # The selector's read: every arm of one experiment; one document per (experiment, model).
    ARM_PARAMETERS: [
        ([("experiment_id", ASCENDING), ("variant_name", ASCENDING)], {"unique": True}),
    ],
    PARAMETER_BATCHES: [
        ([("experiment_id", ASCENDING), ("batch_id", ASCENDING)], {"unique": True}),
        ([("experiment_id", ASCENDING), ("window_end", DESCENDING)], {}),
    ],
    HOURLY_METRICS: [
        (
            [("experiment_id", ASCENDING), ("model_code", ASCENDING), ("hour", ASCENDING)],
            {"unique": True},
        ),
        # The hourly query: one experiment's hours in a range, every model, sorted by hour then
        # model -- answered from this index alone (it replaces the (experiment_id, hour) one,
        # its prefix).
        (
            [("experiment_id", ASCENDING), ("hour", ASCENDING), ("model_code", ASCENDING)],
            {},
        ),
    ],
    DAILY_METRICS: [
        ([("experiment_id", ASCENDING), ("day", ASCENDING)], {"unique": True}),
    ],
    AUDIT_LOG: [
        ([("experiment_id", ASCENDING), ("at", ASCENDING)], {}),
    ],
    # The Overview's read: open incidents, newest first; and one experiment's incidents.
    INCIDENTS: [
        ([("status", ASCENDING), ("created_at", DESCENDING)], {}),
        ([("experiment_id", ASCENDING), ("created_at", DESCENDING)], {}),
    ],
}


def ensure_indexes(db: Database) -> None:
    """Create every index (idempotent: creating an existing index is a no-op)."""
    for collection, indexes in INDEXES.items():
        for keys, options in indexes:
            db[collection].create_index(keys, **options)


def time_range(
    query: dict[str, Any], field: str, start: datetime | None, end: datetime | None
) -> dict[str, Any]:
    """``query`` narrowed to ``start <= field < end`` (either bound may be None)."""
    bounds: dict[str, datetime] = {}
    if start is not None:
        bounds["$gte"] = start
    if end is not None:
        bounds["$lt"] = end
    if bounds:
        query[field] = bounds
    return query
