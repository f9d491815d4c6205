"""Benchmark of the parameter-update job: Spark local[2] beside DuckDB, and the incremental cost.

Run:  .venv/bin/python benchmarks/bench_spark_job.py [--sizes 1000000 10000000] [--keep DIR]

1. For each size, generate that many events (10 hours, two experiments) and time
   ``run_update`` (extract, transform, load into an embedded MongoDB) on ``local[2]``, then the
   same aggregation (dedup, attribution within 1 h, per experiment/model/hour counts) in DuckDB
   on the same files. The two results are checked to agree.
2. Incremental cost: 230 hours of traffic; the batch ending at hour 25 and the one ending at
   hour 225 read the same number of partitions (the 24 h window plus 1 h), so they cost alike.

It prints figures; it asserts nothing about time.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from services.clock import FixedClock  # noqa: E402
from services.events import EventLogWriter  # noqa: E402
from services.experiments import Area, Arm, Experiment, ExperimentType  # noqa: E402
from services.mongo.embedded import EmbeddedMongo  # noqa: E402
from services.mongo.repository import MongoStore, connect  # noqa: E402
from services.traffic import ArmSpec, TrafficConfig, generate  # noqa: E402
from spark.session import local_session  # noqa: E402
from spark.update_params import JobSettings, run_update  # noqa: E402

START = datetime(2026, 11, 28, 0)
COMMAND = ".venv/bin/python benchmarks/bench_spark_job.py"
ARMS = (
    ArmSpec("EXP-01", "MAIN", "EXP-01-APS002-01", 0.067, 0.004),
    ArmSpec("EXP-01", "MAIN", "EXP-01-NCF-01", 0.058, 0.003),
    ArmSpec("EXP-02", "DETAIL", "LF001-01", 0.052, 0.003),
    ArmSpec("EXP-02", "DETAIL", "NCF-02", 0.049, 0.003),
)

DUCKDB_SQL = """
WITH raw AS (
  SELECT * FROM read_json({files}, format='newline_delimited', ignore_errors=true,
    columns={{event_id:'VARCHAR', event_type:'VARCHAR', request_id:'VARCHAR', ts:'VARCHAR',
              member_id:'VARCHAR', area_code:'VARCHAR', experiment_id:'VARCHAR',
              model_code:'VARCHAR', item_id:'VARCHAR'}})
), ev AS (
  SELECT DISTINCT ON (event_id) *, try_cast(ts AS TIMESTAMPTZ) AS t FROM raw
  WHERE event_id IS NOT NULL AND request_id IS NOT NULL
    AND event_type IN ('impression', 'click', 'order') AND try_cast(ts AS TIMESTAMPTZ) IS NOT NULL
), imp AS (
  SELECT request_id, t, date_trunc('hour', t) AS hour, member_id, experiment_id, model_code
  FROM ev WHERE event_type = 'impression'
), act AS (
  SELECT a.event_type, a.request_id, i.experiment_id, i.model_code, i.hour
  FROM ev a JOIN imp i USING (request_id)
  WHERE a.event_type <> 'impression' AND a.t <= i.t + INTERVAL 1 HOUR
), credited AS (
  SELECT experiment_id, model_code, hour,
         count(DISTINCT request_id) FILTER (WHERE event_type = 'click') AS clicks,
         count(*) FILTER (WHERE event_type = 'order') AS orders
  FROM act GROUP BY ALL
)
SELECT i.experiment_id, i.model_code, i.hour, count(*) AS impressions,
       coalesce(any_value(c.clicks), 0) AS clicks, coalesce(any_value(c.orders), 0) AS orders,
       count(DISTINCT i.member_id) AS unique_members
FROM imp i LEFT JOIN credited c USING (experiment_id, model_code, hour)
GROUP BY i.experiment_id, i.model_code, i.hour
"""


def make_store(uri: str, name: str, clock: FixedClock) -> MongoStore:
    store = MongoStore(connect(uri, db_name=name), clock)
    store.ensure_indexes()
    clock.current = START
    for area, default in (("MAIN", "EXP-01-APS002-01"), ("DETAIL", "LF001-01")):
        store.save_area(Area(area, default))
    for exp_id, area, kind in (
        ("EXP-01", "MAIN", ExperimentType.DYNAMIC),
        ("EXP-02", "DETAIL", ExperimentType.STATIC),
    ):
        codes = [a.model_code for a in ARMS if a.experiment_id == exp_id]
        exp = Experiment(
            exp_id,
            exp_id,
            area,
            kind,
            (Arm(codes[0], control=True), Arm(codes[1])),
            warmup_hours=1,
            warmup_min_impressions=100,
            exposure_floor=0.05,
        )
        created = store.create_experiment(exp, by="bench")
        store.apply_action(exp_id, "start", expected_version=created.version, by="bench")
    return store


def write(root: Path, hours: int, per_hour: int, seed: int) -> tuple[int, float]:
    t = time.perf_counter()
    config = TrafficConfig(
        ARMS,
        START,
        hours=hours,
        requests_per_hour=per_hour,
        members=200_000,
        seed=seed,
        duplicate_share=0.005,
        orphan_click_share=0.01,
        malformed_share=0.0005,
    )
    with EventLogWriter(root, writer_id="bench", max_buffered_lines=500_000) as writer:
        summary = generate(config, writer)
    return summary.lines, time.perf_counter() - t


def duckdb_hourly(root: Path) -> tuple[list[tuple], float]:
    import duckdb

    files = sorted(str(p) for p in root.rglob("*.jsonl"))
    con = duckdb.connect()
    con.execute("SET threads TO 2; SET TimeZone = 'UTC'")
    t = time.perf_counter()
    rows = con.execute(DUCKDB_SQL.format(files=files)).fetchall()
    elapsed = time.perf_counter() - t
    rows = sorted((r[0], r[1], r[2].replace(tzinfo=None), *map(int, r[3:])) for r in rows)
    return rows, elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--keep", type=Path, default=None, help="work folder to keep")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="dynab-bench-"))
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    print(f"rerun: {COMMAND} --sizes {' '.join(map(str, args.sizes))}")
    mongo = EmbeddedMongo(data_dir=work / "mongo").start()
    spark = local_session("local[2]", shuffle_partitions=8, driver_memory="3g")
    clock = FixedClock(START)
    results = []
    try:
        # Warm the JVM so that the first measured run does not pay for class loading.
        warm = work / "warm"
        write(warm, 1, 2000, 1)
        run_update(
            spark,
            make_store(mongo.uri, "warm", clock),
            JobSettings(str(warm), START + timedelta(hours=2)),
        )
        for size in args.sizes:
            hours = 10
            root = work / f"events-{size}"
            lines, gen_s = write(root, hours, round(size / hours / 1.06), seed=size)
            store = make_store(mongo.uri, f"b{size}", clock)
            t = time.perf_counter()
            report = run_update(spark, store, JobSettings(str(root), START + timedelta(hours=12)))
            spark_s = time.perf_counter() - t
            ddb_rows, ddb_s = duckdb_hourly(root)
            spark_rows = sorted(
                (
                    m.experiment_id,
                    m.model_code,
                    m.hour,
                    m.impressions,
                    m.clicks,
                    m.orders,
                    m.unique_members,
                )
                for e in ("EXP-01", "EXP-02")
                for m in store.hourly_metrics(e)
            )
            agree = "yes" if spark_rows == ddb_rows else "NO"
            results.append((lines, gen_s, spark_s, report.seconds, ddb_s, agree))
            print(
                f"{lines:>11,} lines generated in {gen_s:6.1f} s; spark {spark_s:6.1f} s "
                f"({lines / spark_s:,.0f} ev/s), duckdb {ddb_s:6.1f} s "
                f"({lines / ddb_s:,.0f} ev/s), same figures: {agree}",
                flush=True,
            )
            shutil.rmtree(root, ignore_errors=True)

        inc = work / "incremental"
        inc_lines, _ = write(inc, 230, 2000, seed=3)
        store = make_store(mongo.uri, "inc", clock)
        timings = {}
        for end_hour in (25, 225, 25, 225):
            t = time.perf_counter()
            rep = run_update(
                spark,
                store,
                JobSettings(str(inc), START + timedelta(hours=end_hour), window_hours=24),
            )
            timings.setdefault(end_hour, []).append((time.perf_counter() - t, len(rep.hours_read)))
        print()
        print(
            "| events | generate s | Spark local[2] s | Spark ev/s | DuckDB s | DuckDB ev/s "
            "| same figures |"
        )
        print("| ---: | ---: | ---: | ---: | ---: | ---: | --- |")
        for lines, gen_s, spark_s, _, ddb_s, agree in results:
            print(
                f"| {lines:,} | {gen_s:.1f} | {spark_s:.1f} | {lines / spark_s:,.0f} | "
                f"{ddb_s:.1f} | {lines / ddb_s:,.0f} | {agree} |"
            )
        print()
        print(f"incremental ({inc_lines:,} events over 230 hours, 24 h window):")
        for end_hour, runs in timings.items():
            secs = ", ".join(f"{s:.1f} s" for s, _ in runs)
            print(f"  batch ending hour {end_hour:>3}: {runs[0][1]} partitions read, {secs}")
    finally:
        spark.stop()
        mongo.stop()
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
