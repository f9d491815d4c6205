"""Render time of each console page (AppTest) with 20 experiments and 90 days of hourly metrics.

Run: .venv/bin/python benchmarks/bench_console.py [--runs 3] [--days 90] [--experiments 20]
     [--pages live_ctr,winners] [--mongo-dir DIR (seed once, reuse)]

Starts its own embedded MongoDB in a temporary folder (or ``--mongo-dir``, seeded once and
reused) and seeds it with what the parameter job writes: hourly metrics through the store
(which keeps the daily roll-ups the pages read), and an hourly parameter batch for the last
``--batch-days`` of every experiment (static ones included; older ones with ``insert_many``, the
embedded server being slow at upserts that insert). Prints, per page, the median of ``--runs``
cold renders (Streamlit's caches cleared before each: the first visit after the 30 s query cache
expired) and of as many warm reruns (the same page again at once: a widget changed, a revisit),
and every cold run in order: Posteriors' first one on a fresh database also computes and stores
the figures of every batch it shows (done once per batch). It reports figures; it asserts
nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PAGES = ["overview", "experiments", "live_ctr", "winners", "posteriors", "operations", "simulator"]


def seed(store, n_experiments: int, days: int, batch_days: float, end: datetime) -> None:
    from dynab.demo import synthetic_history
    from services.experiments import Area, Arm, Experiment, ExperimentType
    from services.mongo import schema
    from services.mongo.repository import batch_to_doc

    for i in range(n_experiments):
        area = f"AREA{i:02d}"
        store.save_area(Area(area, f"M{i:02d}-A", f"Area {i}"))
        exp = Experiment(
            experiment_id=f"EXP-{i + 1:02d}",
            name=f"Benchmark experiment {i + 1}",
            area_code=area,
            type=ExperimentType.DYNAMIC if i % 2 == 0 else ExperimentType.STATIC,
            arms=(Arm(f"M{i:02d}-A", control=True), Arm(f"M{i:02d}-B"), Arm(f"M{i:02d}-C")),
        )
        exp = store.create_experiment(exp, by="bench")
        store.apply_action(exp.experiment_id, "start", expected_version=1, by="bench")
        metrics, batches = synthetic_history(
            exp, end, days, seed=i, hourly_impressions=3000, batch_days=batch_days
        )
        store.replace_hourly_metrics(exp.experiment_id, sorted({m.hour for m in metrics}), metrics)
        if batches:
            store.db[schema.PARAMETER_BATCHES].insert_many(
                [batch_to_doc(b, created_at=b.created_at) for b in batches[:-1]]
            )
            store.save_parameter_batch(batches[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--experiments", type=int, default=20)
    parser.add_argument(
        "--batch-days",
        type=float,
        default=7.0,
        help="days of hourly parameter batches per dynamic experiment",
    )
    parser.add_argument(
        "--mongo-dir",
        type=Path,
        default=None,
        help="keep the seeded database in this folder and reuse it on the next run "
        "(default: a temporary folder, seeded every run)",
    )
    parser.add_argument(
        "--pages", default=",".join(PAGES), help="comma-separated pages to render (default: all)"
    )
    args = parser.parse_args()
    pages = [p for p in args.pages.split(",") if p]
    unknown = sorted(set(pages) - set(PAGES))
    if unknown:
        parser.error(f"unknown page(s) {', '.join(unknown)}; known: {', '.join(PAGES)}")

    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from services.mongo.embedded import EmbeddedMongo
    from services.mongo.repository import MongoStore, connect

    end = datetime(2026, 11, 28, 9)
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.mongo_dir or Path(tmp) / "mongo"
        marker = folder / f"seeded-{args.experiments}x{args.days}x{args.batch_days:g}"
        server = EmbeddedMongo(data_dir=folder).start()
        try:
            db = connect(server.uri, db_name="bench")
            store = MongoStore(db)
            store.ensure_indexes()
            t0 = time.perf_counter()
            reused = marker.exists()
            if not reused:
                db.client.drop_database("bench")
                store.ensure_indexes()
                seed(store, args.experiments, args.days, args.batch_days, end)
                marker.touch()
            print(
                f"{'reused' if reused else 'seeded'} {args.experiments} experiments x "
                f"{args.days} days of hourly metrics "
                f"({db['hourly_metrics'].count_documents({}):,} rows, "
                f"{db['parameter_batches'].count_documents({}):,} batches) "
                f"in {time.perf_counter() - t0:.1f} s"
            )
            os.environ["MONGODB_URI"] = server.uri
            os.environ["MONGODB_DB"] = "bench"
            print(f"{'page':<12} {'cold s':>7} {'warm s':>7} {'runs':>5}   cold runs in order")
            for page in pages:
                times, warm = [], []
                for _ in range(args.runs):
                    at = AppTest.from_file(str(ROOT / "console" / "app.py"), default_timeout=300)
                    at.session_state["auth_user"] = {"name": "bench", "role": "operator"}
                    at.session_state["dynab_now"] = end
                    at.run()
                    at.switch_page(f"views/{page}.py")
                    st.cache_data.clear()  # a cold render: nothing cached by the first page
                    st.cache_resource.clear()
                    start = time.perf_counter()
                    at.run()
                    times.append(time.perf_counter() - start)
                    start = time.perf_counter()
                    at.run()
                    warm.append(time.perf_counter() - start)
                    if at.exception:
                        print(f"{page}: {at.exception[0].value}", file=sys.stderr)
                        return 1
                print(
                    f"{page:<12} {statistics.median(times):>7.2f} {statistics.median(warm):>7.2f}"
                    f" {args.runs:>5}   cold {', '.join(f'{t:.2f}' for t in times)}"
                )
            st.cache_resource.clear()
            db.client.close()
        finally:
            server.stop()
    print("rerun: .venv/bin/python benchmarks/bench_console.py " + " ".join(sys.argv[1:]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
