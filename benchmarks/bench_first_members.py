"""Cost of the parameter job's member state (first assignments) per batch, on the embedded server.

Run:  .venv/bin/python benchmarks/bench_first_members.py [--members 100000]

Writes one hour of impressions by ``--members`` distinct members (three impressions each) as the
job's compact copy, then times ``spark.members.update_first_members`` -- each member's earliest
impression, the join with the Parquet member state, the new generation, the recount and the
commit of the live list in MongoDB -- for:

1. the hour processed first (every member new);
2. the same hour processed again (nothing changes);
3. the next hour, half of whose members were already seen (half new).

Spark local[2], the embedded MongoDB on this machine (two shared cores: figures are noisy).
It prints figures; it asserts nothing about time.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

HOUR = datetime(2026, 11, 28, 10)


@dataclass(frozen=True)
class _Settings:
    state: str


def write_hour(spark, state: str, hour: datetime, first_member: int, members: int) -> None:
    from pyspark.sql import functions as F

    from spark.incremental import part_key, state_path

    events = (
        spark.range(members * 3)
        .select(
            F.concat(F.lit("e"), F.col("id").cast("string"), F.lit(f"-{hour:%H}")).alias(
                "event_id"
            ),
            F.lit("impression").alias("event_type"),
            F.concat(F.lit("r"), F.col("id").cast("string"), F.lit(f"-{hour:%H}")).alias(
                "request_id"
            ),
            (F.lit(hour) + F.make_dt_interval(secs=(F.col("id") % 3600).cast("double")))
            .cast("timestamp_ntz")
            .alias("ts"),
            F.lit(hour).cast("timestamp_ntz").alias("hour"),
            F.format_string("M%07d", F.col("id") % members + first_member).alias("member_id"),
            F.lit("EXP-02").alias("experiment_id"),
            F.when(F.col("id") % 2 == 0, "LF001-01").otherwise("NCF-02").alias("model_code"),
            F.lit(f"{hour:%Y%m%dT%H}00").alias("batch_id"),
            F.lit(0.5).alias("propensity"),
            F.lit(1).cast("long").alias("copies"),
        )
        .repartition(2)
    )
    events.write.mode("overwrite").parquet(f"{state_path(state)}/part={part_key(hour)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=100_000)
    args = parser.parse_args()
    print(f"rerun: .venv/bin/python benchmarks/bench_first_members.py --members {args.members}")

    from dynab.demo import EXPERIMENTS
    from services.mongo.embedded import EmbeddedMongo
    from services.mongo.repository import MongoStore, connect
    from spark.incremental import _copies, _events_of, state_path
    from spark.members import MemberState, impression_views, update_first_members
    from spark.session import local_session

    static = next(e for e in EXPERIMENTS if e.experiment_id == "EXP-02")
    spark = local_session("local[2]", shuffle_partitions=4, driver_memory="1g")
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    with tempfile.TemporaryDirectory() as tmp:
        mongo = EmbeddedMongo(data_dir=Path(tmp) / "mongo").start()
        db = connect(mongo.uri, timeout_ms=60_000)
        store = MongoStore(db)
        store.ensure_indexes()
        settings = _Settings(state=f"{tmp}/state")
        n = args.members
        nxt = HOUR + timedelta(hours=1)
        write_hour(spark, settings.state, HOUR, 0, n)
        write_hour(spark, settings.state, nxt, n // 2, n)
        try:
            for label, hour in (
                (f"hour 1: {n:,} new members", HOUR),
                ("hour 1 again: nothing changes", HOUR),
                (f"hour 2: {n:,} members, half new", nxt),
            ):
                t = time.perf_counter()
                rows, _ = _copies(spark, state_path(settings.state), [hour])
                report = update_first_members(
                    spark,
                    store,
                    settings,
                    [hour],
                    [hour],
                    [static],
                    impression_views(_events_of(rows)),
                )
                print(
                    f"  {label}: {time.perf_counter() - t:.1f} s "
                    f"({report.changed:,} written, "
                    f"{report.hours_recounted} hour(s) recounted; "
                    + ", ".join(f"{k} {v:.1f} s" for k, v in report.steps.items())
                    + ")"
                )
            state = MemberState(spark, db, settings.state)
            print(f"  state rows: {state.read(state.live()).count():,}")
        finally:
            db.client.close()
            mongo.stop()
    spark.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
