"""AppTest of the Operations page on figures seeded into the gateway's collections.

The page is run as a flat script (the console's navigation lists it once wired in); the hit
ratio and the model counts it shows are computed by hand from the seeded documents.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import streamlit as st
from pymongo.database import Database
from streamlit.testing.v1 import AppTest

from services.experiments import ExperimentType
from services.gateway import schema as gw
from services.lifecycle import Action
from services.ops.job_runs import JobRun, JobRunLog
from tests.foundation.factories import area, experiment

PAGE = str(Path(__file__).resolve().parents[2] / "console" / "views" / "operations.py")
NOW = datetime(2026, 11, 28, 9, 30)
H8, H9 = datetime(2026, 11, 28, 8), datetime(2026, 11, 28, 9)
A, B = "EXP-01-APS002-01", "EXP-01-NCF-01"


@pytest.fixture
def page(monkeypatch, mongo_server, mongo_db: Database) -> Iterator[Callable[[], AppTest]]:
    monkeypatch.setenv("MONGODB_URI", mongo_server.uri)
    monkeypatch.setenv("MONGODB_DB", mongo_db.name)
    monkeypatch.delenv("DYNAB_OPS_SOURCE", raising=False)
    st.cache_data.clear()
    st.cache_resource.clear()

    def run() -> AppTest:
        at = AppTest.from_file(PAGE, default_timeout=30)
        at.session_state["auth_user"] = {"name": "adam", "role": "analyst"}
        at.session_state["dynab_now"] = NOW
        return at.run()

    yield run
    st.cache_data.clear()
    st.cache_resource.clear()


def _table(at: AppTest, column: str):
    """The table that has ``column``: a read-only dataframe keeps no key in the AppTest tree."""
    tables = [d.value for d in at.dataframe if column in d.value.columns]
    assert len(tables) == 1, [list(d.value.columns) for d in at.dataframe]
    return tables[0]


def _minute(db: Database, at: datetime, hits: int, misses: int, e4: int = 0) -> None:
    requests = hits + misses
    db[gw.GATEWAY_METRICS].insert_one(
        {
            "_id": gw.minute_id(at),
            "minute": at,
            "requests": requests,
            "cache_hits": hits,
            "cache_misses": misses,
            "status_2xx": requests - e4,
            "status_4xx": e4,
            "latency_sum_ms": 2.0 * requests,
            "lat_05": requests,  # every request in the 1.5-2 ms bucket
        }
    )


def _selections(db: Database, hour: datetime, model: str, n: int, reason: str = "static") -> None:
    db[gw.SELECTOR_LOGS].insert_many(
        [
            {
                "event": "selection",
                "at": hour + timedelta(minutes=i % 60),
                "area_code": "MAIN",
                "experiment_id": "EXP-01",
                "model_code": model,
                "reason": reason,
                "batch_id": None,
                # One member per line: a static test's unit is the member.
                "member_hash": f"{model}|{hour:%H}|{reason}|{i}",
            }
            for i in range(n)
        ]
    )


def _static_experiment(store) -> None:
    store.save_area(area("MAIN"))
    exp = store.create_experiment(experiment(type=ExperimentType.STATIC), by="test")
    store.apply_action(exp.experiment_id, Action.START, expected_version=1, by="test")


def test_hit_ratio_model_counts_and_job_runs(page, store, mongo_db):
    _static_experiment(store)
    # Hour 08: 20 hits, 20 misses (one of them a 4xx); hour 09: 30 hits, 10 misses.
    _minute(mongo_db, H8 + timedelta(minutes=5), hits=20, misses=10, e4=1)
    _minute(mongo_db, H8 + timedelta(minutes=40), hits=0, misses=10)
    _minute(mongo_db, H9 + timedelta(minutes=10), hits=30, misses=10)
    # A 1:1 static test: 12/8 at 08, 9/11 at 09, and 3 paused selections not counted.
    _selections(mongo_db, H8, A, 12)
    _selections(mongo_db, H8, B, 8)
    _selections(mongo_db, H9, A, 9)
    _selections(mongo_db, H9, B, 11)
    _selections(mongo_db, H9, A, 3, reason="paused")
    JobRunLog(mongo_db).record(
        JobRun(
            batch_end=H9,
            started_at=H9 + timedelta(minutes=1),
            finished_at=H9 + timedelta(minutes=1, seconds=42),
            events=5000,
            hourly_rows=48,
            experiments=("EXP-01",),
        )
    )

    at = page()

    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Cache hit ratio"] == "62.5%"  # 50 hits / (50 hits + 30 misses)
    assert metrics["Calls"] == "80"
    assert metrics["4xx"] == "1"
    assert metrics["Duration"] == "42.0 s"
    api = _table(at, "hit ratio").set_index("hour")
    assert api.loc[H8, "hit ratio"] == 0.5
    assert api.loc[H9, "hit ratio"] == 0.75
    split = _table(at, "share counted").set_index("model")
    assert split.loc[A, "returned"] == 21 and split.loc[B, "returned"] == 19
    assert split.loc[A, "counted"] == 21 and split.loc[B, "counted"] == 19
    assert split.loc[A, "expected"] == 20.0 and split.loc[B, "expected"] == 20.0
    assert any("follow its static split" in s.value for s in at.success)
    assert any("counted on members" in s.value for s in at.success)
    assert not at.error
    assert any("paused" in c.value for c in at.caption)
    assert len(at.get("vega_lite_chart")) >= 3


def test_a_lopsided_split_is_flagged(page, store, mongo_db):
    _static_experiment(store)
    _selections(mongo_db, H9, A, 45)
    _selections(mongo_db, H9, B, 5)

    at = page()

    assert not at.exception
    assert any("Mismatch" in e.value for e in at.error)
    split = _table(at, "share counted").set_index("model")
    assert (split.loc[A, "returned"], split.loc[B, "returned"]) == (45, 5)


def test_no_data_tells_what_to_do(page, store):
    at = page()
    assert not at.exception
    infos = " ".join(i.value for i in at.info)
    assert "No API traffic" in infos
    assert "No experiments yet" in infos
    assert "No parameter-job run" in infos


def test_repeat_visitors_of_a_static_test_are_counted_once(page, store, mongo_db):
    # GIVEN 50 members on each arm, but A's members came back 4 times (cache misses after the
    # TTL): 200 selections of A against 50 of B. THEN members are counted: no alarm.
    _static_experiment(store)
    line = {"event": "selection", "area_code": "MAIN", "experiment_id": "EXP-01"}
    docs = [
        {
            **line,
            "at": H9 + timedelta(minutes=visit * 10),
            "model_code": model,
            "reason": "static",
            "batch_id": None,
            "member_hash": f"{model}-{i}",
        }
        for model, visits in ((A, 4), (B, 1))
        for i in range(50)
        for visit in range(visits)
    ]
    mongo_db[gw.SELECTOR_LOGS].insert_many(docs)

    at = page()

    assert not at.exception
    assert not at.error
    split = _table(at, "share counted").set_index("model")
    assert (split.loc[A, "returned"], split.loc[B, "returned"]) == (200, 50)
    assert (split.loc[A, "counted"], split.loc[B, "counted"]) == (50, 50)
    assert any("counted on members" in s.value for s in at.success)


def test_a_failed_job_run_says_why(page, store, mongo_db):
    _static_experiment(store)
    JobRunLog(mongo_db).record(
        JobRun(
            batch_end=H9,
            started_at=H9 + timedelta(minutes=1),
            finished_at=H9 + timedelta(minutes=2),
            events=0,
            hourly_rows=0,
            experiments=(),
            status="failed",
            error="the lake has no events for 2026-11-28T09",
        )
    )
    at = page()
    assert not at.exception, at.exception
    assert any("the lake has no events" in e.value for e in at.error)
    runs = _table(at, "error")
    assert runs["error"].tolist() == ["the lake has no events for 2026-11-28T09"]
    assert {m.label: m.value for m in at.metric}["Last run (UTC)"] == "11-28 09:02"
