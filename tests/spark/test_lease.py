"""Two job runs at once, and a job killed mid-batch: one consistent state, nothing crashes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest

from services.mongo import schema
from spark.lease import LEASE_NAME, JobBusyError
from spark.update_params import JobSettings, run_update
from tests.spark.test_incremental import figures
from tests.spark.test_job import START, setup_experiments, write_traffic

pytestmark = pytest.mark.spark

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    root = tmp_path_factory.mktemp("lake") / "events"
    write_traffic(root, hours=3, duplicate_share=0.01, late_click_share=0.02)
    return root


def _wait_for(predicate, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.05)


def test_a_second_run_meanwhile_stops_with_one_line_or_waits(spark, store, clock, lake, tmp_path):
    setup_experiments(store, clock)
    end = START + timedelta(hours=4)
    job = JobSettings(str(lake), end, state_root=str(tmp_path / "state"))
    outcome: dict[str, object] = {}

    def first() -> None:
        try:
            outcome["first"] = run_update(spark, store, job)
        except Exception as exc:  # recorded for the assertion below
            outcome["first"] = exc

    # GIVEN a run that holds the lease
    thread = threading.Thread(target=first)
    thread.start()
    _wait_for(lambda: store.lease(LEASE_NAME) is not None or "first" in outcome)
    assert "first" not in outcome, "the first run ended before the second started"

    # WHEN a second run starts without waiting, THEN it stops with one clear line
    with pytest.raises(JobBusyError) as busy:
        run_update(spark, store, job)
    assert "holds the lease" in str(busy.value) and "\n" not in str(busy.value)

    # WHEN a third one is willing to wait, THEN it runs after the first and changes nothing
    waited = run_update(spark, store, JobSettings(**{**job.__dict__, "lease_wait_seconds": 300}))
    thread.join()
    assert not isinstance(outcome["first"], Exception), outcome["first"]
    assert waited.batches == ["EXP-01", "EXP-02"]
    after_both = figures(store)
    run_update(spark, store, job)
    assert figures(store) == after_both
    assert store.lease(LEASE_NAME) is None  # every run gave the lease back
    assert all(d["status"] == "done" for d in store.db[schema.JOB_HOURS].find()), (
        "every hour processed once and recorded"
    )


def test_concurrent_loads_without_a_lease_do_not_collide(store, clock):
    """The writes themselves are upserts by _id: two loaders at once leave one state."""
    from services.hourly_metrics import HourlyMetric
    from services.parameters import BatchArm, ParameterBatch

    setup_experiments(store, clock)
    hours = [START + timedelta(hours=k) for k in range(24)]
    rows = [HourlyMetric("EXP-01", m, h, 100, 7) for h in hours for m in ("A1", "B1")]
    batch = ParameterBatch(
        "EXP-01",
        "20261129T0000",
        START,
        START + timedelta(hours=24),
        (BatchArm("A1", 14, 186, 0.5, 0.5), BatchArm("B1", 14, 186, 0.5, 0.5)),
        False,
    )
    errors: list[Exception] = []
    start = threading.Barrier(4)

    def load() -> None:
        start.wait()
        try:
            for _ in range(5):
                store.replace_hourly_metrics("EXP-01", hours, rows)
                store.save_parameter_batch(batch)
        except Exception as exc:  # the assertion reports it
            errors.append(exc)

    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert store.db[schema.HOURLY_METRICS].count_documents({"experiment_id": "EXP-01"}) == 48
    assert store.db[schema.PARAMETER_BATCHES].count_documents({"batch_id": "20261129T0000"}) == 1
    assert store.get_parameters("EXP-01", ("A1", "B1")).batch_id == "20261129T0000"


JOB_SCRIPT = textwrap.dedent(
    """
    import sys
    from datetime import datetime
    sys.path.insert(0, {root!r})
    from services.mongo.repository import MongoStore, connect
    from spark.session import local_session
    from spark.update_params import JobSettings, run_update

    spark = local_session("local[2]", shuffle_partitions=2, driver_memory="1g")
    store = MongoStore(connect({uri!r}, db_name={db!r}))
    run_update(spark, store, JobSettings({lake!r}, datetime.fromisoformat({end!r}),
               state_root={state!r}))
    """
)


def test_a_job_killed_mid_batch_is_completed_by_the_next_run(
    spark, store, clock, lake, tmp_path, mongo_server
):
    setup_experiments(store, clock)
    end = START + timedelta(hours=5)
    state = str(tmp_path / "state")
    script = JOB_SCRIPT.format(
        root=str(ROOT),
        uri=mongo_server.uri,
        db=store.db.name,
        lake=str(lake),
        end=end.isoformat(),
        state=state,
    )
    # GIVEN a job process killed once it has started the batch's hours
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for(
            lambda: (
                store.db[schema.JOB_HOURS].find_one({"status": "running"}) is not None
                or proc.poll() is not None
            )
        )
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert store.lease(LEASE_NAME) is not None  # the dead run still holds it
    unfinished = store.db[schema.JOB_HOURS].count_documents({"status": "running"})
    assert unfinished > 0
    assert store.parameter_history("EXP-01") == []

    # WHEN the job runs again at once, THEN it takes the dead run's lease and completes the batch
    report = run_update(spark, store, JobSettings(str(lake), end, state_root=state))
    assert len(report.hours_processed) >= unfinished
    assert store.db[schema.JOB_HOURS].count_documents({"status": {"$ne": "done"}}) == 0
    assert store.parameter_history("EXP-01")[-1].batch_id == "20261128T0500"
    completed = figures(store)

    # AND the result is what one uninterrupted run gives
    run_update(spark, store, JobSettings(str(lake), end, state_root=state, rebuild_from=START))
    assert figures(store)["hourly"] == completed["hourly"]
    assert figures(store)["params"] == completed["params"]
