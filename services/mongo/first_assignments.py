"""The ``first_assignments`` collection: each member's first impression in an experiment.

One document per (experiment, member hash), ``_id`` ``fa|EXPERIMENT|HASH``: the member's first
impression's time, hour, model and batch. The parameter job keeps it so that a member is counted
once, at its first assignment, however many incremental runs see it (docs/storage.md).

Every write is an upsert by ``_id`` in a bulk write of a few thousand documents: fast on the
embedded server (an upsert filtered on anything else scans the collection) and atomic per
document on real MongoDB. The ``_id`` is prefixed: the embedded server never matches a string
that looks like an ISO date.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

from pymongo import ReplaceOne
from pymongo.database import Database
from pymongo.errors import BulkWriteError

from services.mongo import schema

#: Documents per bulk write and ids per ``$in`` read: small enough for the embedded server to
#: answer well within the client's socket timeout.
WRITE_CHUNK = 5000
READ_CHUNK = 1000


def assignment_id(experiment_id: str, member: str) -> str:
    return f"fa|{experiment_id}|{member}"


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for k in range(0, len(items), size):
        yield items[k : k + size]


class MongoFirstAssignments:
    """First assignments on a MongoDB database (real MongoDB or the embedded server)."""

    def __init__(self, db: Database) -> None:
        self.col = db[schema.FIRST_ASSIGNMENTS]

    def get(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The stored documents of ``ids`` (those that exist), by ``_id``."""
        out: dict[str, dict[str, Any]] = {}
        for chunk in _chunks(list(ids), READ_CHUNK):
            for doc in self.col.find({"_id": {"$in": list(chunk)}}):
                out[doc["_id"]] = doc
        return out

    def save(self, docs: Iterable[dict[str, Any]]) -> int:
        """Upsert ``docs`` (each with its ``_id``) by ``_id``, in bulk."""
        ops = [ReplaceOne({"_id": d["_id"]}, d, upsert=True) for d in docs]
        for chunk in _chunks(ops, WRITE_CHUNK):
            self.col.bulk_write(list(chunk), ordered=False)
        return len(ops)

    def insert(self, docs: Sequence[dict[str, Any]]) -> int:
        """Insert documents not stored yet (a third faster than upserts on the embedded server);
        any that another writer stored meanwhile is replaced by an upsert instead."""
        for chunk in _chunks(list(docs), WRITE_CHUNK):
            try:
                self.col.insert_many(list(chunk), ordered=False)
            except BulkWriteError as exc:
                errors = exc.details.get("writeErrors", [])
                if any(e.get("code") != 11000 for e in errors):
                    raise
                taken = {chunk[e["index"]]["_id"] for e in errors}
                self.save(d for d in chunk if d["_id"] in taken)
        return len(docs)

    def in_hours(self, experiment_id: str, hours: Iterable[datetime]) -> list[dict[str, Any]]:
        """The documents of ``experiment_id`` whose first hour is one of ``hours``.

        Consecutive hours are read as one range (the embedded server answers a range from the
        ``(experiment_id, hour)`` index and scans for ``$in``).
        """
        out: list[dict[str, Any]] = []
        ordered = sorted(set(hours))
        projection = {"hour": 1, "model_code": 1, "batch_id": 1}
        k = 0
        while k < len(ordered):
            j = k
            while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + timedelta(hours=1):
                j += 1
            query = schema.time_range(
                {"experiment_id": experiment_id},
                "hour",
                ordered[k],
                ordered[j] + timedelta(hours=1),
            )
            out.extend(self.col.find(query, projection))
            k = j + 1
        return out
