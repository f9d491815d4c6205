"""Benchmark of the parameter-update job: Spark local[2] beside DuckDB, one batch and steady state.

Run:  .venv/bin/python benchmarks/bench_spark_job.py [--quick] [--sizes 1000000 10000000]
      [--hourly 1000000] [--runs 3] [--warmup 2] [--keep DIR]

1. One batch over many events (a catch-up or a peak): for each size, 10 hours of traffic (two
   experiments) processed by one ``run_update`` (extract, transform, load into an embedded
   MongoDB) on ``local[2]``, and the same aggregation (dedup, attribution within 1 h, per
   experiment/model/hour counts) in DuckDB on the same files. Both must give the same figures.
2. Steady state: a new hour of ``--hourly`` events after four processed hours (the attribution
   look-back and the late-click hours are read back from their Parquet copies). The same batch
   is timed with a 24 h and a 90-day evaluation window (the 90-day store holds 90 days of hourly
   history); DuckDB does the same incremental work on the same files and the same MongoDB load
   (``duckdb_job.py``: every line checked and counted per file, malformed lines set aside, repeats
   counted, a Parquet copy, the look-back copies, attribution with late and orphan actions, the
   impression side by batch, first views, the members' first assignments). Both must store the
   same figures: every field of the touched hours' documents and the hour's counts.
   A steady state is a session that has run the hourly batch before (as the local stack's
   long-lived session has): the ``--warmup`` batches after the catch-up are timed and printed
   apart, not in the median. The first batch of a new plan's shape compiles its generated
   classes and runs them before the JVM has optimised them; the next ones do neither.

Every figure is the median of ``--runs`` runs, the runs of each row side by side in one process.
It prints figures; it asserts nothing about time. The machine it runs on may be shared: say so
when quoting the figures.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import statistics
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
from services.hourly_metrics import HourlyMetric  # noqa: E402
from services.mongo.embedded import EmbeddedMongo  # noqa: E402
from services.mongo.repository import MongoStore, connect  # noqa: E402
from services.traffic import ArmSpec, TrafficConfig, generate  # noqa: E402
from spark.session import compiled_classes, local_session  # noqa: E402
from spark.update_params import JobSettings, run_update  # noqa: E402

sys.path.insert(0, str(ROOT / "benchmarks"))
from duckdb_job import DuckDBJob, figures  # noqa: E402

START = datetime(2026, 11, 28, 0)
COMMAND = ".venv/bin/python benchmarks/bench_spark_job.py"
ARMS = (
    ArmSpec("EXP-01", "MAIN", "EXP-01-APS002-01", 0.067, 0.004),
    ArmSpec("EXP-01", "MAIN", "EXP-01-NCF-01", 0.058, 0.003),
    ArmSpec("EXP-02", "DETAIL", "LF001-01", 0.052, 0.003),
    ArmSpec("EXP-02", "DETAIL", "NCF-02", 0.049, 0.003),
)
COLUMNS = (
    "{event_id:'VARCHAR', event_type:'VARCHAR', request_id:'VARCHAR', ts:'VARCHAR', "
    "member_id:'VARCHAR', area_code:'VARCHAR', experiment_id:'VARCHAR', model_code:'VARCHAR', "
    "item_id:'VARCHAR'}"
)
_COLUMNS = COLUMNS.replace("{", "{{").replace("}", "}}")
VALID_EVENTS = f"""
SELECT DISTINCT ON (event_id) event_id, event_type, request_id,
       try_cast(ts AS TIMESTAMPTZ) AS t, member_id, experiment_id, model_code
FROM read_json({{files}}, format='newline_delimited', ignore_errors=true, columns={_COLUMNS})
WHERE event_id IS NOT NULL AND request_id IS NOT NULL AND member_id IS NOT NULL
  AND experiment_id IS NOT NULL AND model_code IS NOT NULL
  AND event_type IN ('impression', 'click', 'order') AND try_cast(ts AS TIMESTAMPTZ) IS NOT NULL
"""
HOURLY = """
WITH imp AS (
  SELECT request_id, t, date_trunc('hour', t) AS hour, member_id, experiment_id, model_code
  FROM ev WHERE event_type = 'impression'
), act AS (
  SELECT a.event_type, a.request_id, i.experiment_id, i.model_code, i.hour
  FROM ev a JOIN imp i USING (request_id)
  WHERE a.event_type <> 'impression' AND a.t <= i.t + INTERVAL 1 HOUR
    AND a.t >= TIMESTAMPTZ '{first}'
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
WHERE i.hour >= TIMESTAMPTZ '{first}'
GROUP BY i.experiment_id, i.model_code, i.hour
"""


def make_store(uri: str, name: str, clock: FixedClock, window_hours: int = 24) -> MongoStore:
    store = MongoStore(connect(uri, db_name=name), clock)
    store.db.client.drop_database(name)
    store.ensure_indexes()
    clock.current = START - timedelta(hours=window_hours)
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
            evaluation_window_hours=window_hours,
        )
        created = store.create_experiment(exp, by="bench")
        store.apply_action(exp_id, "start", expected_version=created.version, by="bench")
    clock.current = START
    return store


def preload_history(store: MongoStore, hours: int) -> None:
    """``hours`` of hourly metrics before START, recorded as processed (a long-running test)."""
    span = [START - timedelta(hours=k) for k in range(hours, 0, -1)]
    for exp_id in ("EXP-01", "EXP-02"):
        codes = [a.model_code for a in ARMS if a.experiment_id == exp_id]
        rows = [HourlyMetric(exp_id, c, h, 50_000, 3_000, 200, 40_000) for h in span for c in codes]
        store.replace_hourly_metrics(exp_id, span, rows)
    store.save_job_hours([{"hour": h, "status": "done", "batch": "preload"} for h in span])


def write(root: Path, hours: int, per_hour: int, seed: int, start: datetime = START) -> int:
    config = TrafficConfig(
        ARMS,
        start,
        hours=hours,
        requests_per_hour=per_hour,
        members=200_000,
        seed=seed,
        duplicate_share=0.005,
        orphan_click_share=0.01,
        late_click_share=0.01,
        malformed_share=0.0005,
    )
    with EventLogWriter(root, writer_id="bench", max_buffered_lines=500_000) as writer:
        return generate(config, writer).lines


def _duckdb():
    import duckdb

    con = duckdb.connect()
    con.execute("SET threads TO 2; SET TimeZone = 'UTC'")
    return con


def _rows(result) -> list[tuple]:
    return sorted((r[0], r[1], r[2].replace(tzinfo=None), *map(int, r[3:])) for r in result)


def duckdb_full(root: Path) -> tuple[list[tuple], float]:
    files = sorted(str(p) for p in root.rglob("*.jsonl"))
    con = _duckdb()
    t = time.perf_counter()
    con.execute(f"CREATE TEMP TABLE ev AS {VALID_EVENTS.format(files=files)}")
    rows = con.execute(HOURLY.format(first="1970-01-01 00:00:00+00")).fetchall()
    return _rows(rows), time.perf_counter() - t


def median(values: list[float]) -> float:
    return statistics.median(values)


def spark_rows(store: MongoStore, start: datetime | None = None) -> list[tuple]:
    return sorted(
        (m.experiment_id, m.model_code, m.hour, m.impressions, m.clicks, m.orders, m.unique_members)
        for e in ("EXP-01", "EXP-02")
        for m in store.hourly_metrics(e, start=start)
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[1_000_000, 10_000_000])
    parser.add_argument("--hourly", type=int, default=1_000_000, help="events of the new hour")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--warmup",
        type=int,
        default=2,
        help="steady-state batches run before the timed ones (printed apart)",
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, one minute or two")
    parser.add_argument("--keep", type=Path, default=None, help="work folder to keep")
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.hourly = [200_000], 100_000
    # The synthetic traffic trips the order guardrail: its incident lines are not figures.
    logging.getLogger("dynab.incidents").setLevel(logging.ERROR)
    work = args.keep or Path(tempfile.mkdtemp(prefix="dynab-bench-"))
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    rerun = (
        f"{COMMAND} --sizes {' '.join(map(str, args.sizes))} --hourly {args.hourly} "
        f"--runs {args.runs} --warmup {args.warmup}"
    )
    print(f"rerun: {rerun}" + (" (--quick)" if args.quick else ""))
    mongo = EmbeddedMongo(data_dir=work / "mongo").start()
    started = time.perf_counter()
    spark = local_session("local[2]", shuffle_partitions=4, driver_memory="3g")
    # The batches run in this long-lived session: its start is not in their figures.
    print(f"session start (JVM, not in the batch figures): {time.perf_counter() - started:.1f} s")
    print(f"load average at start: {' '.join(f'{x:.1f}' for x in os.getloadavg())}", flush=True)
    clock = FixedClock(START)
    full = []
    steady = {}
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
            root = work / f"events-{size}"
            lines = write(root, 10, round(size / 10 / 1.06), seed=size)
            store = make_store(mongo.uri, f"b{size}", clock)
            spark_s, ddb_s, seconds = [], [], []
            for run in range(args.runs):
                job = JobSettings(
                    str(root), START + timedelta(hours=12), rebuild_from=START if run else None
                )
                t = time.perf_counter()
                report = run_update(spark, store, job)
                spark_s.append(time.perf_counter() - t)
                seconds.append(report.seconds)
                ddb_rows, elapsed = duckdb_full(root)
                ddb_s.append(elapsed)
            agree = "yes" if spark_rows(store) == ddb_rows else "NO"
            full.append((lines, spark_s, ddb_s, agree, seconds[-1]))
            print(
                f"one batch, {lines:,} events: spark {median(spark_s):.1f} s, duckdb "
                f"{median(ddb_s):.1f} s, same figures: {agree}, stages {_stages(seconds[-1])}",
                flush=True,
            )
            shutil.rmtree(root, ignore_errors=True)

        # Steady state: four processed hours, then the new hour.
        lake = work / "steady"
        per_hour = round(args.hourly / 1.06)
        lines = write(lake, 5, per_hour, seed=7)
        new_hour = START + timedelta(hours=4)
        compared = [new_hour - timedelta(hours=1), new_hour]
        for window in (24, 90 * 24):
            store = make_store(mongo.uri, f"w{window}", clock, window_hours=window)
            preload_history(store, window)
            state = work / f"state-{window}"
            run_update(spark, store, JobSettings(str(lake), new_hour, state_root=str(state)))
            ddb_store = make_store(mongo.uri, f"d{window}", clock, window_hours=window)
            preload_history(ddb_store, window)
            duck = DuckDBJob(lake, work / f"duckdb-{window}", ddb_store)
            for k in range(4):
                duck.run(START + timedelta(hours=k))
            job = JobSettings(
                str(lake),
                new_hour + timedelta(hours=1),
                state_root=str(state),
                rebuild_from=new_hour,
            )
            warmup = []
            for _ in range(args.warmup):
                t = time.perf_counter()
                run_update(spark, store, job)
                warmup.append(time.perf_counter() - t)
            spark_s, ddb_s, seconds, compiled = [], [], [], []
            for _ in range(args.runs):
                before = compiled_classes(spark)
                t = time.perf_counter()
                report = run_update(spark, store, job)
                spark_s.append(time.perf_counter() - t)
                compiled.append(compiled_classes(spark) - before)
                seconds.append(report.seconds)
                ddb_s.append(duck.run(new_hour))
            same = figures(store, compared) == figures(ddb_store, compared)
            agree = "yes" if same else "NO"
            steady[window] = (report.events, spark_s, ddb_s, agree, warmup)
            print(
                f"steady state, {window} h window, new hour of {report.events:,} events: "
                f"warm-up batches {_runs(warmup) or 'none'} s; spark "
                f"{median(spark_s):.1f} s, duckdb {median(ddb_s):.1f} s, same figures: {agree}, "
                f"stages {_stages(seconds[-1])}, classes compiled per batch "
                f"{', '.join(map(str, compiled))}",
                flush=True,
            )
        print()
        print(
            "| batch | events parsed | Spark local[2] s (runs) | DuckDB s (runs) | ratio | same "
            "| warm-up batches s |"
        )
        print("| --- | ---: | ---: | ---: | ---: | --- | ---: |")
        for lines, spark_s, ddb_s, agree, _ in full:
            print(
                f"| one batch, 10 h | {lines:,} | {median(spark_s):.1f} ({_runs(spark_s)}) | "
                f"{median(ddb_s):.1f} ({_runs(ddb_s)}) | {median(spark_s) / median(ddb_s):.1f}x "
                f"| {agree} | |"
            )
        for window, (events, spark_s, ddb_s, agree, warmup) in steady.items():
            label = f"{window // 24}-day window" if window > 24 else "24 h window"
            print(
                f"| steady state, {label} | {events:,} | {median(spark_s):.1f} ({_runs(spark_s)})"
                f" | {median(ddb_s):.1f} ({_runs(ddb_s)}) | "
                f"{median(spark_s) / median(ddb_s):.1f}x | {agree} | {_runs(warmup)} |"
            )
        if len(steady) == 2:
            a, b = (median(v[1]) for v in steady.values())
            print(f"\n90-day vs 24 h window, Spark batch: {100 * (b - a) / a:+.0f} %")
        print(f"load average at end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
        print(f"\nrerun: {rerun}")
    finally:
        spark.stop()
        mongo.stop()
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


def _runs(values: list[float]) -> str:
    return ", ".join(f"{v:.1f}" for v in values)


def _stages(seconds: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.1f}" for k, v in seconds.items())


if __name__ == "__main__":
    raise SystemExit(main())
