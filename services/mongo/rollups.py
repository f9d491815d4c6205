"""The daily roll-up collection: kept up to date wherever hourly metrics are replaced.

``daily_metrics`` holds one document per (experiment, day) (see :mod:`services.reports.rollups`);
``daily_metrics_state`` one per experiment whose roll-ups are complete. Every write is by ``_id``
(fast on the embedded server, atomic per document on any MongoDB): replacing hours reads the
touched days' documents by ``_id``, swaps those hours' cells and recomputes the decision path
from the first touched day on (in steady state the last day or two). The posterior figures
stored with each parameter batch (at its first display) are read and written here too.

Data written before the roll-up existed is rolled up once per experiment, from the hourly
collection: by ``dynab init-db`` for every experiment, or by the first write of its hours. Until
then a read rolls it up in memory and writes nothing (:meth:`DailyRollups.days`).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReplaceOne
from pymongo.database import Database
from pymongo.errors import PyMongoError

from services.hourly_metrics import HourlyMetric
from services.mongo import schema
from services.parameters import ParameterBatch
from services.reports.posteriors import batch_figures, figures_match
from services.reports.rollups import (
    cells_of,
    day_id,
    day_path,
    day_start,
    replace_cells,
)

log = logging.getLogger("dynab.rollups")

DAILY_METRICS = schema.DAILY_METRICS
DAILY_METRICS_STATE = schema.DAILY_METRICS_STATE


class DailyRollups:
    """Reads and maintains one database's daily roll-ups."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.col = db[DAILY_METRICS]

    # --- reads -----------------------------------------------------------------------------

    def days(
        self, experiment_id: str, *, start: datetime | None = None, end: datetime | None = None
    ) -> list[dict[str, Any]]:
        """The experiment's day documents, oldest first; with ``start``/``end``, only the days
        holding hours in ``start <= hour < end``.

        A reader never writes: an experiment never rolled up (data written before the roll-ups,
        until ``dynab init-db`` or the job's next write) is rolled up in memory for this read.
        A console writing the roll-up could race the job and store hours older than the job's.
        """
        if self.db[DAILY_METRICS_STATE].find_one({"_id": experiment_id}) is not None:
            return self._days(experiment_id, start=start, end=end)
        lower = day_start(start) if start is not None else None
        return [
            doc
            for doc in self._day_docs(
                experiment_id,
                self._from_hourly(experiment_id),
                self._model_codes(experiment_id),
                previous=None,
                later=[],
            )
            if (lower is None or doc["day"] >= lower) and (end is None or doc["day"] < end)
        ]

    def _days(
        self, experiment_id: str, *, start: datetime | None = None, end: datetime | None = None
    ) -> list[dict[str, Any]]:
        query: dict[str, Any] = {"experiment_id": experiment_id}
        bounds: dict[str, datetime] = {}
        if start is not None:
            bounds["$gte"] = day_start(start)
        if end is not None:
            bounds["$lt"] = end
        if bounds:
            query["day"] = bounds
        return list(self.col.find(query).sort("day", ASCENDING))

    # --- writes ----------------------------------------------------------------------------

    def rebuild(self, experiment_id: str) -> int:
        """Roll up every hourly row of the experiment again; returns the days written."""
        by_day = self._from_hourly(experiment_id)
        stale = [d["_id"] for d in self._days(experiment_id) if d["day"] not in by_day]
        if stale:
            self.col.delete_many({"_id": {"$in": stale}})
        if by_day:
            self._write(
                experiment_id, by_day, self._model_codes(experiment_id), previous=None, later=[]
            )
        self._save_state(experiment_id, min(by_day, default=None), max(by_day, default=None))
        return len(by_day)

    def _from_hourly(self, experiment_id: str) -> dict[datetime, list[list[Any]]]:
        """The cells of every day, from the experiment's hourly documents."""
        docs = self.db[schema.HOURLY_METRICS].find(
            {"experiment_id": experiment_id},
            {"model_code": 1, "hour": 1, "impressions": 1, "clicks": 1, "orders": 1},
        )
        by_day: dict[datetime, list[list[Any]]] = defaultdict(list)
        for d in docs:
            row = HourlyMetric.from_dict({"experiment_id": experiment_id, **d})
            by_day[day_start(row.hour)].extend(cells_of([row]))
        return {day: sorted(cells, key=lambda c: (c[1], c[0])) for day, cells in by_day.items()}

    def replace_hours(
        self, experiment_id: str, hours: Sequence[datetime], rows: Iterable[HourlyMetric]
    ) -> None:
        """Make ``rows`` the whole content of ``hours`` in the roll-up (after the hourly
        collection was written the same way).

        In steady state (the newest hours) every read and write is by ``_id``: the state, the
        touched days, the day before them; the days after them are read only when there are
        some (late data for an older day), since their decision path moves too.
        """
        state = self.db[DAILY_METRICS_STATE].find_one({"_id": experiment_id})
        if state is None:
            self.rebuild(experiment_id)  # reads the hours just written too
            return
        rows = list(rows)
        touched = sorted({day_start(h) for h in hours})
        if not touched:
            return
        changed = {}
        for day in touched:
            old = self.col.find_one({"_id": day_id(experiment_id, day)}, {"cells": 1})
            changed[day] = replace_cells((old or {}).get("cells") or (), day, hours, rows)
        first, last = state.get("first_day"), state.get("last_day")
        codes = self._model_codes(experiment_id)
        previous: dict[str, Any] | None = None
        later: list[dict[str, Any]] = []
        if codes is not None:
            if first is None or first < touched[0]:
                previous = self._day_before(experiment_id, touched[0])
            since: dict[str, Any] | None = None
            if previous is not None and previous.get("models") != codes:
                # The running sums before the touched days were kept for other models (or
                # never): recompute the path of every day.
                previous, since = None, {}
            elif last is None or last > touched[0]:
                since = {"day": {"$gt": touched[0]}}
            if since is not None:
                later = [
                    d
                    for d in self.col.find({"experiment_id": experiment_id, **since})
                    if d["day"] not in changed
                ]
        self._write(experiment_id, changed, codes, previous=previous, later=later)
        self._save_state(
            experiment_id,
            min(touched[0], first or touched[0]),
            max(touched[-1], last or touched[-1]),
        )

    def _day_before(self, experiment_id: str, day: datetime) -> dict[str, Any] | None:
        """The newest day document before ``day``: the previous day by ``_id``, else a query."""
        doc = self.col.find_one({"_id": day_id(experiment_id, day - timedelta(days=1))})
        if doc is not None:
            return doc
        found = (
            self.col.find({"experiment_id": experiment_id, "day": {"$lt": day}})
            .sort("day", DESCENDING)
            .limit(1)
        )
        return next(iter(found), None)

    def _save_state(
        self, experiment_id: str, first: datetime | None, last: datetime | None
    ) -> None:
        self.db[DAILY_METRICS_STATE].replace_one(
            {"_id": experiment_id},
            {"_id": experiment_id, "complete": True, "first_day": first, "last_day": last},
            upsert=True,
        )

    def _model_codes(self, experiment_id: str) -> list[str] | None:
        """The experiment's models in its order; None for hourly rows of an experiment the store
        does not know (imports, benchmarks): its days then keep no decision path."""
        doc = self.db[schema.EXPERIMENTS].find_one({"_id": experiment_id}, {"arms": 1})
        if doc and doc.get("arms"):
            return [str(a["model_code"]) for a in doc["arms"]]
        return None

    def _write(
        self,
        experiment_id: str,
        changed: dict[datetime, list[list[Any]]],
        codes: list[str] | None,
        *,
        previous: dict[str, Any] | None,
        later: list[dict[str, Any]],
    ) -> None:
        """Write the changed days and recompute the path of every day from the first of them."""
        ops = [
            ReplaceOne({"_id": doc["_id"]}, doc, upsert=True)
            for doc in self._day_docs(experiment_id, changed, codes, previous=previous, later=later)
        ]
        if ops:
            self.col.bulk_write(ops, ordered=False)

    @staticmethod
    def _day_docs(
        experiment_id: str,
        changed: dict[datetime, list[list[Any]]],
        codes: list[str] | None,
        *,
        previous: dict[str, Any] | None,
        later: list[dict[str, Any]],
    ) -> list[dict[str, Any]]:
        """The documents of the changed and later days, the path running on from ``previous``."""
        days = {day: cells for day, cells in changed.items()}
        for d in later:
            days.setdefault(d["day"], d.get("cells") or [])
        sums = previous.get("sums") if previous else None
        served = previous.get("served_end") if previous else None
        out = []
        for day in sorted(days):
            path: dict[str, Any] = {}
            if codes is not None:
                path = day_path(codes, days[day], sums, served)
                sums, served = path["sums"], path["served_end"]
            out.append(
                {
                    "_id": day_id(experiment_id, day),
                    "experiment_id": experiment_id,
                    "day": day,
                    "cells": days[day],
                    **path,
                }
            )
        return out


def ensure_all(db: Database) -> dict[str, int]:
    """Roll up every experiment with hourly metrics and no roll-up yet (``dynab init-db``)."""
    rollups = DailyRollups(db)
    done = {}
    for experiment_id in sorted(db[schema.HOURLY_METRICS].distinct("experiment_id")):
        if db[DAILY_METRICS_STATE].find_one({"_id": experiment_id}) is None:
            done[str(experiment_id)] = rollups.rebuild(str(experiment_id))
    return done


def stored_batch_figures(
    db: Database, experiment_id: str, batches: Sequence[ParameterBatch]
) -> dict[str, list[dict[str, Any]]]:
    """The posterior figures stored with ``batches`` (by batch id), for the batch history.

    A batch without them (new since the last display, or rewritten since: its figures no longer
    match its arms) gets them computed and written back by ``_id`` -- once per batch, by the
    first console that shows it, so that the parameter job's writes stay as cheap as they were.
    """
    wanted = {b.batch_id: b for b in batches}
    out: dict[str, list[dict[str, Any]]] = {}
    col = db[schema.PARAMETER_BATCHES]
    for doc in col.find({"experiment_id": experiment_id}, {"batch_id": 1, "figures": 1}):
        batch = wanted.get(doc.get("batch_id"))
        if batch is None:
            continue
        figures = doc.get("figures")
        if not figures_match(batch, figures):
            figures = batch_figures(batch)
            try:
                col.update_one({"_id": doc["_id"]}, {"$set": {"figures": figures}})
            except PyMongoError as exc:
                # Stored only to spare the next display the integrals (a console whose database
                # user may not write, a busy server): shown all the same, computed again next time.
                log.warning("could not store the figures of batch %s: %s", batch.batch_id, exc)
        out[batch.batch_id] = figures
    return out
