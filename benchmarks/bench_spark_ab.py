"""Two versions of the parameter job side by side: the steady-state batch, alternated in one JVM.

Run:  .venv/bin/python benchmarks/bench_spark_ab.py OLD NEW [--runs 6] [--hourly 1000000]
      [--lake DIR] [--session old|new]

OLD and NEW are checkouts of this repository (``git worktree add /tmp/old <commit>`` gives one).
Each one's ``spark/`` package is copied under another name, so that both run in this process on
one SparkSession: a shared host's speed drifts by a fifth within the hour, which separate runs
minutes apart cannot tell from a change of the code. Each version gets its own MongoDB database
and state folder, processes the same four hours, then reprocesses the new hour ``--runs`` times,
the two versions alternating (ABBAAB...). It prints every run, the medians and whether the two
versions stored the same figures (every field of the hourly documents, and each hour's counts).
It asserts nothing about time. The session is ``--session``'s ``local_session`` (NEW's by
default): its settings hold for both versions, so a change of the session's settings is
measured by two runs, one with each.

The lake (five hours of ``--hourly`` events, as ``bench_spark_job.py`` writes them) is kept under
``--lake`` and reused when it is there.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import re
import shutil
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_spark_job as bench  # noqa: E402
from duckdb_job import figures  # noqa: E402

from services.clock import FixedClock  # noqa: E402
from services.mongo.embedded import EmbeddedMongo  # noqa: E402

COMMAND = ".venv/bin/python benchmarks/bench_spark_ab.py"
STEPS = ("extract", "transform_sides", "transform", "members")


def copy_package(checkout: Path, name: str, into: Path) -> None:
    """``checkout/spark`` as package ``name`` under ``into``, its imports of itself renamed."""
    shutil.copytree(checkout / "spark", into / name)
    for path in (into / name).glob("*.py"):
        text = re.sub(r"\bfrom spark([. ])", rf"from {name}\1", path.read_text())
        path.write_text(re.sub(r"\bimport spark\.", f"import {name}.", text))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path)
    parser.add_argument("--runs", type=int, default=6)
    parser.add_argument("--hourly", type=int, default=1_000_000, help="events of each hour")
    parser.add_argument("--lake", type=Path, default=Path(tempfile.gettempdir()) / "dynab-ab-lake")
    parser.add_argument(
        "--session",
        choices=("old", "new"),
        default="new",
        help="whose local_session both versions run on (its settings hold for both)",
    )
    args = parser.parse_args()
    logging.getLogger("dynab.incidents").setLevel(logging.ERROR)
    rerun = (
        f"rerun: {COMMAND} {args.old} {args.new} --runs {args.runs} --hourly {args.hourly} "
        f"--session {args.session}"
    )
    print(rerun)
    # (The name changes with what the lake holds: one written before it had late clicks is
    # written again.)
    marker = args.lake / f".complete-{args.hourly}-late-clicks"
    if not marker.exists():
        shutil.rmtree(args.lake, ignore_errors=True)
        print(
            f"writing the lake: {bench.write(args.lake, 5, round(args.hourly / 1.06), 7):,} lines"
        )
        marker.touch()
    work = Path(tempfile.mkdtemp(prefix="dynab-ab-"))
    copy_package(args.old, "spark_old", work / "packages")
    copy_package(args.new, "spark_new", work / "packages")
    sys.path.insert(0, str(work / "packages"))
    versions = {
        n: importlib.import_module(f"{n}.update_params") for n in ("spark_old", "spark_new")
    }
    session = importlib.import_module(f"spark_{args.session}.session")
    mongo = EmbeddedMongo(data_dir=work / "mongo").start()
    spark = session.local_session("local[2]", shuffle_partitions=4, driver_memory="3g")
    clock = FixedClock(bench.START)
    new_hour = bench.START + timedelta(hours=4)
    stores, times, steps = {}, {n: [] for n in versions}, {n: [] for n in versions}
    try:
        for name, job in versions.items():
            stores[name] = bench.make_store(mongo.uri, name, clock)
            bench.preload_history(stores[name], 24)
            settings = job.JobSettings(str(args.lake), new_hour, state_root=str(work / name))
            job.run_update(spark, stores[name], settings)
        order = list(versions.items())
        for run in range(args.runs):
            for name, job in order if run % 2 == 0 else order[::-1]:
                settings = job.JobSettings(
                    str(args.lake),
                    new_hour + timedelta(hours=1),
                    state_root=str(work / name),
                    rebuild_from=new_hour,
                )
                started = time.perf_counter()
                report = job.run_update(spark, stores[name], settings)
                times[name].append(time.perf_counter() - started)
                steps[name].append(report.seconds)
                print(f"run {run} {name}: {times[name][-1]:.2f} s", flush=True)
        for name in versions:
            median = {k: statistics.median(s.get(k, 0.0) for s in steps[name]) for k in STEPS}
            print(
                f"{name}: median {statistics.median(times[name]):.2f} s "
                f"(runs {', '.join(f'{x:.1f}' for x in times[name])}); steps "
                + ", ".join(f"{k} {v:.2f}" for k, v in median.items())
            )
        old, new = (statistics.median(times[n]) for n in versions)
        print(f"new against old: {100 * (new - old) / old:+.1f} %")
        hours = [bench.START + timedelta(hours=k) for k in range(5)]
        same = figures(stores["spark_old"], hours) == figures(stores["spark_new"], hours)
        print(f"same hourly figures and hour counts: {'yes' if same else 'NO'}")
    finally:
        spark.stop()
        mongo.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(rerun)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
