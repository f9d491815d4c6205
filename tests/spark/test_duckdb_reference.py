"""The job's figures against an independent computation: the same hours processed one by one
by the Spark job and by the DuckDB reference of the benchmark (``benchmarks/duckdb_job.py``,
plain SQL, none of the job's code) give the same documents, on a lake with repeated deliveries,
orphan and late clicks, malformed lines and clicks across hour boundaries (``lake``)."""

from __future__ import annotations

import importlib.util
from datetime import timedelta
from pathlib import Path

import pytest

from services.events.layout import partition_path
from spark.update_params import run_update
from tests.spark.conftest import LAKE_HOURS as HOURS
from tests.spark.test_incremental import settings
from tests.spark.test_job import START, setup_experiments

pytestmark = pytest.mark.spark


def _reference():
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "duckdb_job.py"
    spec = importlib.util.spec_from_file_location("duckdb_job", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_stored_figure_matches_an_independent_duckdb_computation(
    spark, store, second_store, clock, lake, tmp_path
):
    reference = _reference()
    root, _ = lake
    setup_experiments(store, clock)
    setup_experiments(second_store, clock)
    duck = reference.DuckDBJob(
        root,
        tmp_path / "duckdb",
        second_store,
        options={"estimator": "pooled", "guardrails": False},
    )
    hours = [
        START + timedelta(hours=k)
        for k in range(HOURS + 3)
        if Path(partition_path(str(root), START + timedelta(hours=k))).exists()
    ]
    assert len(hours) > HOURS  # late clicks landed after the traffic's last hour

    # WHEN each hour is processed as it comes, by both
    for hour in hours:
        run_update(spark, store, settings(root, tmp_path / "state", hour + timedelta(hours=1)))
        duck.run(hour)

    # THEN every hourly document and every hour's counts agree
    job, ref = reference.figures(store, hours), reference.figures(second_store, hours)
    assert len(job["hourly"]) == len(ref["hourly"]) >= 4 * HOURS
    for ours, theirs in zip(job["hourly"], ref["hourly"], strict=True):
        assert ours == theirs
    assert job["counts"] == ref["counts"]
    # AND the lake's troubles were all there to be counted
    quality = [q for c in ref["counts"].values() for q in c["quality"].values()]
    for name in ("duplicate_events", "orphan_clicks", "late_clicks"):
        assert sum(q[name] for q in quality) > 0, name
    assert sum(c["malformed_lines"] for c in ref["counts"].values()) > 0
