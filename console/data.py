"""The console's access to the store: one cached client per database, cached queries.

Business logic lives in ``services``; this module only wires the store into Streamlit's caches.
The client is cached per (URI, database) so that two configurations never share one, and each
query's cache key starts with that pair for the same reason. Pages call :func:`invalidate` after
a write so that the next render reads what was written.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any, NamedTuple

import pandas as pd
import streamlit as st

from services.audit import AuditEntry
from services.clock import Clock, clock_from_env
from services.experiments import Area, Experiment
from services.guardrails.incidents import Incident, IncidentStatus
from services.mongo.incidents import list_incidents
from services.mongo.repository import DEFAULT_DB, MongoStore, connect
from services.mongo.rollups import DailyRollups, stored_batch_figures
from services.parameters import ParameterBatch
from services.reports.decision import DecisionReport, build_report
from services.reports.posteriors import batch_history_frame
from services.reports.rollups import HourCounts, decision_history_from_days, rows_from_days

#: Seconds a query result is reused; the parameter job writes at most once a batch interval.
QUERY_TTL = 30
#: Batches the posterior history shows at most (the newest).
HISTORY_LIMIT = 500


class Source(NamedTuple):
    """Which database the console reads: the cache key of the client and of every query."""

    uri: str
    db_name: str


def _secret(name: str) -> str | None:
    try:
        value = st.secrets.get(name)
    except FileNotFoundError:
        return None
    return str(value) if value else None


def source() -> Source:
    """``MONGODB_URI`` / ``MONGODB_DB`` from the environment, else the secrets of that name."""
    uri = os.environ.get("MONGODB_URI") or _secret("mongodb_uri")
    if not uri:
        st.error(
            "No MongoDB configured: set MONGODB_URI (or `mongodb_uri` in the secrets), or "
            "start everything with `dynab run`."
        )
        st.stop()
    db_name = os.environ.get("MONGODB_DB") or _secret("mongodb_db") or ""
    return Source(uri, db_name)


def _close(store: MongoStore) -> None:
    store.db.client.close()


@st.cache_resource(show_spinner=False, on_release=_close)
def _store(uri: str, db_name: str) -> MongoStore:
    # The store stamps started_at, audit entries and claims: on the stack's clock, like the rest.
    return MongoStore(connect(uri, db_name=db_name or None, timeout_ms=3000), clock())


def get_store() -> MongoStore:
    src = source()
    return _store(src.uri, src.db_name)


def now() -> datetime:
    """The console's notion of now; a session may pin it (``dynab_now``) for tests and demos."""
    pinned = st.session_state.get("dynab_now")
    return pinned if isinstance(pinned, datetime) else clock().now()


@st.cache_resource(show_spinner=False)
def clock() -> Clock:
    """Wall-clock time, or the embedded demo's accelerated clock that ``dynab run`` passes.

    One clock for the whole stack: the selector, the parameter job, the traffic and the console
    all follow the same ``DYNAB_SIM_EPOCH`` / ``DYNAB_REAL_EPOCH`` / ``DYNAB_CLOCK_SPEED``.
    """
    return clock_from_env(os.environ)


def clock_label(current: Clock) -> str | None:
    """What the sidebar says about an accelerated clock (``demo clock, ×60``); None otherwise."""
    speed = getattr(current, "speed", None)
    if speed is None:
        return None
    return f"demo clock, ×{speed:g}"


@st.cache_data(ttl=QUERY_TTL, show_spinner=False)
def areas(src: Source) -> list[Area]:
    return _store(src.uri, src.db_name).list_areas()


@st.cache_data(ttl=QUERY_TTL, show_spinner=False)
def experiments(src: Source) -> list[Experiment]:
    return _store(src.uri, src.db_name).list_experiments()


@st.cache_data(ttl=QUERY_TTL, show_spinner=False)
def audit_history(src: Source, experiment_id: str) -> list[AuditEntry]:
    return _store(src.uri, src.db_name).audit_history(experiment_id)


@st.cache_data(ttl=QUERY_TTL, show_spinner=False)
def daily_rollups(
    src: Source, experiment_id: str, start: datetime | None = None, end: datetime | None = None
) -> list[dict[str, Any]]:
    """The experiment's daily roll-ups (one document per day: its hourly counts and decision
    path) holding hours in ``start <= hour < end``, rolled up from the hourly metrics first if
    they never were."""
    store = DailyRollups(_store(src.uri, src.db_name).db)
    return store.days(experiment_id, start=start, end=end)


def hourly_metrics(
    src: Source, experiment_id: str, start: datetime | None = None, end: datetime | None = None
) -> list[HourCounts]:
    """Hourly counts (impressions, clicks, orders) per model with ``start <= hour < end``.

    From the daily roll-ups (cached): one document per day instead of one per model and hour.
    Not cached itself: unpickling thousands of rows from the cache takes longer than unpacking
    them from the cached days again.
    """
    days = daily_rollups(src, experiment_id, start, end)
    return rows_from_days(days, start=start, end=end)


@st.cache_data(ttl=QUERY_TTL, show_spinner=False)
def parameter_history(
    src: Source, experiment_id: str, limit: int | None = HISTORY_LIMIT
) -> list[ParameterBatch]:
    return _store(src.uri, src.db_name).parameter_history(experiment_id, limit=limit)


@st.cache_data(ttl=QUERY_TTL, show_spinner=False)
def decision_report(
    src: Source, experiment_id: str, version: int, _experiment: Experiment
) -> DecisionReport:
    """The experiment's decision report (the rule's path over every hour since the start).

    The costliest figure of the console, so it is kept as long as the queries it is built from:
    a rerun (a date picked, another section opened) reuses it. Cached by experiment and
    configuration version; ``_experiment`` is that version, not hashed.
    """
    batches = parameter_history(src, experiment_id)
    # The rule's path as the roll-ups keep it; recomputed from the hours when they cannot say
    # (days rolled up for other models).
    path = decision_history_from_days(_experiment, daily_rollups(src, experiment_id), batches)
    return build_report(_experiment, hourly_metrics(src, experiment_id), batches, history=path)


@st.cache_data(ttl=QUERY_TTL, show_spinner=False)
def batch_history(src: Source, experiment_id: str) -> pd.DataFrame:
    """Posterior mean, interval, P(best) and expected loss of every shown batch (Posteriors):
    two integrals per batch, stored with the batch the first time it is shown, so that each
    batch is computed once."""
    batches = parameter_history(src, experiment_id)
    figures = stored_batch_figures(_store(src.uri, src.db_name).db, experiment_id, batches)
    return batch_history_frame(batches, figures=figures)


@st.cache_data(ttl=QUERY_TTL, show_spinner=False)
def open_incidents(src: Source) -> list[Incident]:
    return list_incidents(_store(src.uri, src.db_name), status=IncidentStatus.OPEN)


def invalidate() -> None:
    """Forget cached query results after a write (the client stays)."""
    for query in (areas, experiments, audit_history, open_incidents):
        query.clear()


__all__ = [
    "DEFAULT_DB",
    "Source",
    "clock",
    "clock_label",
    "get_store",
    "invalidate",
    "now",
    "source",
]
