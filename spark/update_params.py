"""The parameter-update job: event logs -> hourly metrics and Beta parameters in MongoDB.

Run it with ``spark-submit spark/update_params.py --input ROOT --mongodb-uri URI`` (EMR or any
cluster; ship ``services`` and ``spark`` with ``--py-files``), with ``dynab update-params``
locally, or call :func:`run_update` on a SparkSession you keep (one JVM for many batches).

One batch, ending at ``batch_end`` (default: the last full hour):

1. Extract the hour partitions of the longest evaluation window among the running experiments,
   plus the attribution window before it (so a click at the window's first minute finds its
   impression). Malformed lines are counted per file and quarantined.
2. Transform: drop duplicate events, attribute clicks and orders to their impressions, count
   data-quality problems, aggregate per experiment, model and hour.
3. Load: replace the hourly metrics of every hour read (idempotent), then write a parameter batch
   for every running experiment. Paused, stopped and draft experiments are not touched.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from services.clock import floor_hour, utc_now
from services.events.layout import hour_of_partition, hours_between
from services.exceptions import ValidationError
from services.experiments import Experiment, Status
from services.hourly_metrics import HourlyMetric
from services.store import Store

Progress = Callable[[str], None]


@dataclass(frozen=True)
class JobSettings:
    """Arguments of one batch.

    Attributes:
        root: Event log ROOT (local folder, ``s3://...`` on EMR).
        batch_end: End of the batch, a whole hour (naive UTC); hours before it are counted.
        window_hours: Evaluation window for every experiment; None: each experiment's own.
        attribution_seconds: How long after its impression a click or order still counts.
        quarantine_root: Where malformed lines go (default ``ROOT/_quarantine``).
    """

    root: str
    batch_end: datetime
    window_hours: int | None = None
    attribution_seconds: int = 3600
    quarantine_root: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.root, str) or not self.root:
            raise ValidationError("input", "is required")
        if self.batch_end != floor_hour(self.batch_end):
            raise ValidationError("batch_end", f"must be a whole hour, got {self.batch_end}")
        if self.window_hours is not None and not 1 <= self.window_hours <= 90 * 24:
            raise ValidationError("window_hours", f"must be 1..2160, got {self.window_hours}")
        if not 1 <= self.attribution_seconds <= 24 * 3600:
            raise ValidationError(
                "attribution", f"must be 1 s to 24 h, got {self.attribution_seconds} s"
            )

    @property
    def quarantine(self) -> str:
        base = self.quarantine_root or f"{self.root.rstrip('/')}/_quarantine"
        return f"{base.rstrip('/')}/batch={self.batch_end:%Y%m%dT%H%M}"


@dataclass
class JobReport:
    batch_end: datetime
    hours_read: list[datetime] = field(default_factory=list)
    events: int = 0
    malformed_lines: int = 0
    malformed_by_file: dict[str, int] = field(default_factory=dict)
    hourly_rows: int = 0
    batches: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    def summary(self) -> str:
        return (
            f"batch ending {self.batch_end:%Y-%m-%d %H:00}: {len(self.hours_read)} hours read, "
            f"{self.events} events, {self.malformed_lines} malformed lines, "
            f"{self.hourly_rows} hourly rows, parameters for {len(self.batches)} experiment(s)"
            + (f" ({', '.join(self.batches)})" if self.batches else "")
        )


def last_full_hour(now: datetime) -> datetime:
    return floor_hour(now)


def _hourly_from_rows(rows: Sequence[object]) -> list[HourlyMetric]:
    return [
        HourlyMetric(
            experiment_id=r["experiment_id"],  # type: ignore[index]
            model_code=r["model_code"],  # type: ignore[index]
            hour=r["hour"],  # type: ignore[index]
            impressions=int(r["impressions"]),  # type: ignore[index]
            clicks=int(r["clicks"]),  # type: ignore[index]
            orders=int(r["orders"]),  # type: ignore[index]
            unique_members=int(r["unique_members"]),  # type: ignore[index]
        )
        for r in rows
    ]


def run_update(
    spark: object,
    store: Store,
    settings: JobSettings,
    *,
    progress: Progress | None = None,
) -> JobReport:
    """Run one batch on an existing SparkSession and write its results through ``store``."""
    from pyspark import StorageLevel

    from spark import extract, transform
    from spark.parameter_batch import build_batch

    say = progress or (lambda _message: None)
    report = JobReport(batch_end=settings.batch_end)
    spark.conf.set("spark.sql.session.timeZone", "UTC")  # type: ignore[attr-defined]
    running = store.list_experiments(statuses=[Status.RUNNING])
    if not running:
        say("no running experiment: nothing to do")
        return report
    window = settings.window_hours or max(e.evaluation_window_hours for e in running)
    window_start = settings.batch_end - timedelta(hours=window)
    lookback = timedelta(hours=math.ceil(settings.attribution_seconds / 3600))

    t0 = time.perf_counter()
    wanted = extract.hour_paths(
        settings.root, hours_between(window_start - lookback, settings.batch_end)
    )
    paths = extract.existing_paths(spark, wanted)  # type: ignore[arg-type]
    report.hours_read = [hour_of_partition(p) for p in paths]
    say(f"reading {len(paths)} of {len(wanted)} hour partitions under {settings.root}")
    parsed = extract.parse_events(extract.read_lines(spark, paths))  # type: ignore[arg-type]
    parsed = parsed.persist(StorageLevel.MEMORY_AND_DISK)
    cached = [parsed]
    try:
        counts = extract.line_counts(parsed).collect()
        report.events = sum(int(r["valid_lines"]) for r in counts)
        malformed = {r["file"]: int(r["malformed_lines"]) for r in counts if r["malformed_lines"]}
        report.malformed_by_file = malformed
        report.malformed_lines = sum(malformed.values())
        if malformed:
            extract.quarantine(extract.malformed_lines(parsed), settings.quarantine)
            say(f"{report.malformed_lines} malformed lines quarantined to {settings.quarantine}")
        report.seconds["extract"] = time.perf_counter() - t0

        t1 = time.perf_counter()
        events = extract.valid_events(parsed)
        duplicates = {
            r["experiment_id"]: int(r["duplicate_events"])
            for r in transform.duplicate_counts(events).collect()
        }
        # Both are read by more than one of the actions below: computed once, kept.
        unique = transform.drop_duplicate_events(events).persist(StorageLevel.MEMORY_AND_DISK)
        cached.append(unique)
        impressions = transform.impressions_of(unique)
        actions = transform.in_hours(
            transform.actions_of(unique), "ts", window_start, settings.batch_end
        )
        attributed = transform.attribute_actions(
            impressions, actions, settings.attribution_seconds
        ).persist(StorageLevel.MEMORY_AND_DISK)
        cached.append(attributed)
        quality = {
            r["experiment_id"]: r.asDict() for r in transform.action_quality(attributed).collect()
        }
        hourly_df = transform.hourly_metrics(
            transform.in_hours(impressions, "hour", window_start, settings.batch_end), attributed
        )
        hourly = _hourly_from_rows(hourly_df.collect())
        report.seconds["transform"] = time.perf_counter() - t1
    finally:
        for frame in cached:
            frame.unpersist()

    t2 = time.perf_counter()
    hours_in_window = [h for h in report.hours_read if h >= window_start]
    by_experiment: dict[str, list[HourlyMetric]] = defaultdict(list)
    for row in hourly:
        by_experiment[row.experiment_id].append(row)
    for experiment in running:
        rows = by_experiment.get(experiment.experiment_id, [])
        # Only hours whose partitions exist are replaced: a missing partition (late delivery,
        # expired logs) must not erase figures computed earlier.
        if hours_in_window:
            store.replace_hourly_metrics(experiment.experiment_id, hours_in_window, rows)
            report.hourly_rows += len(rows)
        batch = build_batch(
            experiment,
            rows,
            batch_end=settings.batch_end,
            window_hours=settings.window_hours,
            history=store.parameter_history(experiment.experiment_id),
            data_quality=_data_quality(experiment, quality, duplicates, report),
        )
        store.save_parameter_batch(batch)
        report.batches.append(experiment.experiment_id)
        say(f"{experiment.experiment_id}: {_describe(batch)}")
    report.seconds["load"] = time.perf_counter() - t2
    return report


def _data_quality(
    experiment: Experiment,
    quality: dict[str, dict[str, object]],
    duplicates: dict[str, int],
    report: JobReport,
) -> dict[str, int]:
    q = quality.get(experiment.experiment_id, {})
    return {
        "duplicate_events": int(duplicates.get(experiment.experiment_id, 0)),
        "orphan_clicks": int(q.get("orphan_clicks", 0) or 0),  # type: ignore[arg-type]
        "late_clicks": int(q.get("late_clicks", 0) or 0),  # type: ignore[arg-type]
        "orphan_orders": int(q.get("orphan_orders", 0) or 0),  # type: ignore[arg-type]
        "late_orders": int(q.get("late_orders", 0) or 0),  # type: ignore[arg-type]
        # Malformed lines name no experiment: every batch of the run carries the run's total.
        "malformed_lines": report.malformed_lines,
        "malformed_files": len(report.malformed_by_file),
    }


def _describe(batch: object) -> str:
    arms = ", ".join(
        f"{a.model_code} a={a.alpha} b={a.beta} w={a.weight:.3f}"
        for a in batch.arms  # type: ignore[attr-defined]
    )
    state = "warm-up" if batch.warmup else "weights"  # type: ignore[attr-defined]
    return f"{state}: {arms}"


# --- command line --------------------------------------------------------------------------


def parse_hour(value: str) -> datetime:
    """``2026-11-28T10`` / ``2026-11-28T10:00`` / ``2026-11-28 10:00:00`` (UTC) -> a whole hour."""
    text = value.strip().rstrip("Z")
    for fmt in ("%Y-%m-%dT%H", "%Y-%m-%d %H"):
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValidationError("batch_end", f"{value!r} is not a time like 2026-11-28T10") from None
    if moment != floor_hour(moment):
        raise ValidationError("batch_end", f"{value!r} is not a whole hour")
    return moment.replace(tzinfo=None)


def _hour_argument(value: str) -> datetime:
    try:
        return parse_hour(value)
    except ValidationError as exc:
        raise argparse.ArgumentTypeError(exc.message) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--input",
        required=True,
        metavar="ROOT",
        help="event log ROOT: a folder, or s3://bucket/prefix on EMR",
    )
    parser.add_argument(
        "--mongodb-uri", default=None, help="MongoDB to update (default: MONGODB_URI)"
    )
    parser.add_argument(
        "--batch-end",
        type=_hour_argument,
        default=None,
        metavar="HOUR",
        help="end of the batch, e.g. 2026-11-28T10 (UTC; default: the last full hour)",
    )
    parser.add_argument(
        "--window-hours",
        type=int,
        default=None,
        help="evaluation window (default: each experiment's own)",
    )
    parser.add_argument(
        "--attribution-minutes",
        type=int,
        default=60,
        help="a click or order counts this long after its impression (default: %(default)s)",
    )
    parser.add_argument(
        "--quarantine",
        default=None,
        metavar="ROOT",
        help="where malformed lines go (default: INPUT/_quarantine)",
    )


def settings_from_args(args: argparse.Namespace, now: datetime) -> JobSettings:
    return JobSettings(
        root=args.input,
        batch_end=args.batch_end or last_full_hour(now),
        window_hours=args.window_hours,
        attribution_seconds=args.attribution_minutes * 60,
        quarantine_root=args.quarantine,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """``spark-submit`` entry point: wire the arguments, the session and the store, run."""
    from pyspark.sql import SparkSession

    from services.mongo.repository import MongoStore, connect

    parser = argparse.ArgumentParser(prog="update_params", description=__doc__.splitlines()[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    settings = settings_from_args(args, utc_now())
    spark = SparkSession.builder.appName("dynab-update-params").getOrCreate()
    db = connect(args.mongodb_uri)
    try:
        report = run_update(spark, MongoStore(db), settings, progress=print)
    finally:
        db.client.close()
    print(report.summary())
    return 0


if __name__ == "__main__":
    # spark-submit runs this file as a script; the zipped packages sit on sys.path already.
    sys.exit(main())
