"""The parameter-update job: event logs -> hourly metrics and Beta parameters in MongoDB.

Run it with ``spark-submit spark/update_params.py --input ROOT --mongodb-uri URI`` (EMR or any
cluster; ship ``services`` and ``spark`` with ``--py-files``), with ``dynab update-params``
locally, or call :func:`run_update` on a SparkSession you keep (one JVM for many batches).

One batch, ending at ``batch_end`` (default: the last full hour), is incremental:

1. Take the job's lease (one run at a time) and find the hours not processed yet since the
   horizon (``job_hours``): the newest hour at steady state, every missed one after an outage,
   a whole range with ``--rebuild FROM`` (see ``spark/batch_plan.py``).
2. Extract: parse only those hours' raw logs (malformed lines counted per file, quarantined),
   deduplicate, and keep a compact Parquet copy of each under ``STATE/events``. The hours around
   them (attribution look-back, late clicks) are read back from that copy.
3. Transform: attribute clicks and orders to their impressions, count data-quality problems per
   hour, aggregate the touched hours per experiment, model and hour.
4. Load: replace the hourly metrics of the touched hours, record the processed hours, then
   compute every running experiment's parameters from the hourly metrics of its window already
   in MongoDB. Paused, stopped and draft experiments are not touched.
5. Guard: each new batch is judged by its experiment's guardrails before it is saved; a held
   batch keeps the last good parameters in force (docs/guardrails.md).
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
from typing import Any

from services.clock import floor_hour, utc_now
from services.events.layout import hour_of_partition, hours_between
from services.exceptions import DynabError, ValidationError
from services.experiments import Experiment, Status
from services.hourly_metrics import HourlyMetric
from services.store import Store

Progress = Callable[[str], None]

#: Per-experiment data-quality counts kept per hour and summed over a batch's window.
QUALITY_FIELDS = (
    "duplicate_events",
    "orphan_clicks",
    "late_clicks",
    "orphan_orders",
    "late_orders",
)
#: Hours an empty hour is looked at again in case its partition arrives late.
RECHECK_EMPTY_HOURS = 3


@dataclass(frozen=True)
class JobSettings:
    """Arguments of one batch.

    Attributes:
        root: Event log ROOT (local folder, ``s3://...`` on EMR).
        batch_end: End of the batch, a whole hour (naive UTC); hours before it are counted.
        window_hours: Evaluation window for every experiment; None: each experiment's own.
        attribution_seconds: How long after its impression a click or order still counts.
        quarantine_root: Where malformed lines go (default ``ROOT/_quarantine``).
        state_root: The job's compact copies (default ``ROOT/_state``).
        rebuild_from: Reprocess every hour from this one on from the raw logs.
        horizon_hours: How far back unprocessed hours are caught up (default: the longest
            window); never before the earliest running experiment's start.
        late_hours: A click up to this many hours after its attribution window is *late*; one
            whose impression is older still counts as an orphan.
        lease_wait_seconds: How long to wait for another run's lease before giving up.
        lease_ttl_seconds: How long a lease lasts without renewal (a dead run's lease expires).
        estimator: What feeds the bandit: ``stratified`` (the hour-stratified estimate,
            moment-matched; docs/statistics.md) or ``pooled`` (clicks and non-clicks summed).
        guardrails: Judge every new batch with the experiment's guardrails before saving it
            (docs/guardrails.md); notifications go where ``DYNAB_NOTIFY`` says.
        serving_health: Give the guardrails the selector's figures of the batch's hours (the
            operations source of ``DYNAB_OPS_SOURCE``); an unreadable source skips the rule.
    """

    root: str
    batch_end: datetime
    window_hours: int | None = None
    attribution_seconds: int = 3600
    quarantine_root: str | None = None
    state_root: str | None = None
    rebuild_from: datetime | None = None
    horizon_hours: int | None = None
    late_hours: int = 3
    lease_wait_seconds: float = 0.0
    lease_ttl_seconds: float = 600.0
    estimator: str = "stratified"
    guardrails: bool = True
    serving_health: bool = True

    def __post_init__(self) -> None:
        if self.estimator not in ("stratified", "pooled"):
            raise ValidationError(
                "estimator", f"must be stratified or pooled, got {self.estimator!r}"
            )
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
        if self.rebuild_from is not None and (
            self.rebuild_from != floor_hour(self.rebuild_from)
            or self.rebuild_from >= self.batch_end
        ):
            raise ValidationError(
                "rebuild", f"must be a whole hour before the batch end, got {self.rebuild_from}"
            )
        if self.horizon_hours is not None and not 1 <= self.horizon_hours <= 366 * 24:
            raise ValidationError("horizon_hours", f"must be 1..8784, got {self.horizon_hours}")
        if not 0 <= self.late_hours <= 48:
            raise ValidationError("late_hours", f"must be 0..48, got {self.late_hours}")
        if self.lease_wait_seconds < 0 or self.lease_ttl_seconds <= 0:
            raise ValidationError("lease", "wait must be >= 0 and time-to-live > 0 seconds")

    @property
    def batch_id(self) -> str:
        return f"{self.batch_end:%Y%m%dT%H%M}"

    @property
    def quarantine(self) -> str:
        base = self.quarantine_root or f"{self.root.rstrip('/')}/_quarantine"
        return f"{base.rstrip('/')}/batch={self.batch_id}"

    @property
    def state(self) -> str:
        return (self.state_root or f"{self.root.rstrip('/')}/_state").rstrip("/")

    @property
    def lookback_hours(self) -> int:
        return math.ceil(self.attribution_seconds / 3600)


@dataclass
class JobReport:
    batch_end: datetime
    hours_read: list[datetime] = field(default_factory=list)
    hours_processed: list[datetime] = field(default_factory=list)
    hours_touched: list[datetime] = field(default_factory=list)
    events: int = 0
    malformed_lines: int = 0
    malformed_by_file: dict[str, int] = field(default_factory=dict)
    hourly_rows: int = 0
    batches: list[str] = field(default_factory=list)
    current: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    def summary(self) -> str:
        return (
            f"batch ending {self.batch_end:%Y-%m-%d %H:00}: "
            f"{len(self.hours_processed)} hour(s) processed, {len(self.hours_read)} read, "
            f"{self.events} events, {self.malformed_lines} malformed lines, "
            f"{self.hourly_rows} hourly rows, parameters for {len(self.batches)} experiment(s)"
            + (f" ({', '.join(self.batches)})" if self.batches else "")
            + (f", held for {', '.join(self.held)}" if self.held else "")
        )


def last_full_hour(now: datetime) -> datetime:
    return floor_hour(now)


def run_update(
    spark: object,
    store: Store,
    settings: JobSettings,
    *,
    progress: Progress | None = None,
    lease_owner: str | None = None,
) -> JobReport:
    """Run one batch on an existing SparkSession and write its results through ``store``.

    Raises:
        JobBusyError: another run holds the job's lease (after ``lease_wait_seconds``).
    """
    from spark.lease import JobLease

    say = progress or (lambda _message: None)
    report = JobReport(batch_end=settings.batch_end)
    running = store.list_experiments(statuses=[Status.RUNNING])
    if not running:
        say("no running experiment: nothing to do")
        return report
    lease = JobLease(store, ttl_seconds=settings.lease_ttl_seconds, owner=lease_owner)
    lease.acquire(wait_seconds=settings.lease_wait_seconds, note=f"batch {settings.batch_id}")
    try:
        _run_batch(spark, store, settings, running, report, lease, say)
    finally:
        lease.release()
    return report


def _run_batch(
    spark: Any,
    store: Any,
    settings: JobSettings,
    running: list[Experiment],
    report: JobReport,
    lease: Any,
    say: Progress,
) -> None:
    from spark import batch_plan, extract

    spark.conf.set("spark.sql.session.timeZone", "UTC")
    end = settings.batch_end
    longest = settings.window_hours or max(e.evaluation_window_hours for e in running)
    starts = [e.started_at for e in running if e.started_at is not None]
    horizon = batch_plan.horizon_start(
        end, settings.horizon_hours or longest, min(starts) if starts else None
    )
    if settings.rebuild_from is not None:
        horizon = min(horizon, settings.rebuild_from)
    t0 = time.perf_counter()
    records = store.job_hours(horizon - timedelta(hours=1), end)
    if settings.rebuild_from is not None:
        candidates = list(hours_between(max(horizon, settings.rebuild_from), end))
    else:
        candidates = batch_plan.unprocessed_hours(
            horizon,
            end,
            {h: str(r.get("status")) for h, r in records.items()},
            recheck_empty_after=end - timedelta(hours=RECHECK_EMPTY_HOURS),
        )
    present = {
        hour_of_partition(p)
        for p in extract.existing_paths(spark, extract.hour_paths(settings.root, candidates))
    }
    empty = [h for h in candidates if h not in present]
    plan = batch_plan.plan_batch(
        present,
        batch_end=end,
        horizon=horizon,
        lookback_hours=settings.lookback_hours,
        late_hours=settings.late_hours,
    )
    report.hours_processed = list(plan.process)
    report.hours_touched = list(plan.touched)
    report.seconds["plan"] = time.perf_counter() - t0
    if plan.process:
        say(
            f"processing {len(plan.process)} hour(s) from {plan.process[0]:%Y-%m-%d %H:00}, "
            f"recomputing {len(plan.touched)}"
        )
        store.save_job_hours(
            [
                {**records.get(h, {}), "hour": h, "status": "running", "batch": settings.batch_id}
                for h in plan.process
            ]
        )
        from spark.incremental import process_hours

        result = process_hours(
            spark,
            settings,
            plan,
            {e.experiment_id for e in running},
            report,
            records,
        )
        lease.renew()
        from spark.members import update_first_members, with_member_counts

        # Members counted once, at their first assignment (spark/members.py): counted before
        # the hourly documents are replaced, so that they are written with their counts.
        try:
            members = update_first_members(
                spark, store, settings, plan.process, result.hours_with_data, running, result.views
            )
        finally:
            if result.views is not None:
                result.views.unpersist()
        report.seconds["members"] = members.seconds
        t2 = time.perf_counter()
        by_experiment: dict[str, list[HourlyMetric]] = defaultdict(list)
        for row in with_member_counts(result.hourly, members.counts):
            by_experiment[row.experiment_id].append(row)
        for experiment in running:
            rows = by_experiment.get(experiment.experiment_id, [])
            # Only hours with events are replaced: a missing partition (late delivery, expired
            # logs) must not erase figures computed earlier.
            store.replace_hourly_metrics(experiment.experiment_id, result.hours_with_data, rows)
            report.hourly_rows += len(rows)
        store.save_job_hours(
            [
                {
                    "hour": h,
                    "status": "done",
                    "batch": settings.batch_id,
                    **result.counts.get(h, _no_counts()),
                    "processed_at": utc_now(),
                }
                for h in plan.process
            ]
        )
        report.seconds["load_hourly"] = time.perf_counter() - t2
    if empty:
        store.save_job_hours(
            [
                {"hour": h, "status": "empty", "batch": settings.batch_id, **_no_counts()}
                for h in empty
            ]
        )
    t3 = time.perf_counter()
    _write_parameters(store, settings, running, report, say)
    report.seconds["load_parameters"] = time.perf_counter() - t3


def _no_counts() -> dict[str, Any]:
    return {"events": 0, "malformed_lines": 0, "malformed_files": 0, "quality": {}}


def window_quality(records: Sequence[dict[str, Any]], experiment_id: str) -> dict[str, int]:
    """The data-quality counts of a window: the per-hour counts of its hours, summed."""
    out = dict.fromkeys(QUALITY_FIELDS, 0)
    out["malformed_lines"] = 0
    out["malformed_files"] = 0
    for record in records:
        per = (record.get("quality") or {}).get(experiment_id) or {}
        for name in QUALITY_FIELDS:
            out[name] += int(per.get(name, 0))
        # Malformed lines name no experiment: every experiment's batch carries the hour's total.
        out["malformed_lines"] += int(record.get("malformed_lines", 0))
        out["malformed_files"] += int(record.get("malformed_files", 0))
    return out


def _window_start(experiment: Experiment, settings: JobSettings) -> datetime:
    """First hour of the experiment's evaluation window for this batch: the sliding window's,
    or -- cumulative -- the hour it started (at most 90 days back)."""
    end = settings.batch_end
    hours = settings.window_hours or experiment.window_hours
    if hours is not None:
        return end - timedelta(hours=hours)
    oldest = end - timedelta(days=90)
    if experiment.started_at is None:
        return oldest
    return max(oldest, floor_hour(experiment.started_at))


def _write_parameters(
    store: Any, settings: JobSettings, running: list[Experiment], report: JobReport, say: Progress
) -> None:
    from services.guardrails.apply import guard_batch
    from services.guardrails.inputs import with_volume
    from services.guardrails.notify import notifier_from_env
    from spark.parameter_batch import build_batch, pooled_estimator, stratified_estimator

    end = settings.batch_end
    starts = {e.experiment_id: _window_start(e, settings) for e in running}
    own = {e.experiment_id: end - _batch_span(e) for e in running}
    all_records = store.job_hours(min(*starts.values(), *own.values()), end)
    estimator = stratified_estimator if settings.estimator == "stratified" else pooled_estimator
    notifier = notifier_from_env() if settings.guardrails else None
    serving = _serving_health(store, settings, say) if settings.guardrails else None
    for experiment in running:
        exp_id = experiment.experiment_id
        start = starts[exp_id]
        hours = int((end - start).total_seconds() // 3600)
        rows = store.hourly_metrics(exp_id, start=min(start, own[exp_id]), end=end)
        records = [r for h, r in all_records.items() if h >= start]
        window_rows = [r for r in rows if r.hour >= start]
        batch = build_batch(
            experiment,
            window_rows,
            batch_end=end,
            window_start=start,
            # Batches of at most one per hour: the window's and the one in force at its start.
            history=store.parameter_history(exp_id, limit=hours + 1),
            data_quality=with_volume(window_quality(records, exp_id), records, window_rows, exp_id),
            estimator=estimator,
        )
        if settings.guardrails:
            # The guardrails judge the batch's own hours: a bad hour must not hide in a day.
            own_records = [r for h, r in all_records.items() if h >= own[exp_id]]
            own_rows = [r for r in rows if r.hour >= own[exp_id]]
            guarded = guard_batch(
                store,
                experiment,
                batch,
                data_quality=with_volume(
                    window_quality(own_records, exp_id), own_records, own_rows, exp_id
                ),
                serving=serving,
                notifier=notifier,
            )
            if guarded is None:
                report.held.append(exp_id)
                say(f"{exp_id}: batch held (data quality), the last good parameters stay")
                continue
            batch = guarded
        current = store.save_parameter_batch(batch)
        report.batches.append(exp_id)
        if current is not False:
            report.current.append(exp_id)
        say(
            f"{exp_id}: {_describe(batch)}"
            + ("" if current is not False else " (history only: a newer batch is current)")
        )


def _batch_span(experiment: Experiment) -> timedelta:
    """The hours a batch adds: its interval, in whole hours (the guardrails' own window)."""
    return timedelta(hours=max(1, math.ceil(experiment.batch_interval_minutes / 60)))


def _serving_health(store: Any, settings: JobSettings, say: Progress) -> Any:
    """The selector's figures over the batch's last hour, or None (rule skipped, said why)."""
    if not settings.serving_health:
        return None
    from services.guardrails.inputs import serving_health
    from services.ops.config import OpsConfig, build_source

    start = settings.batch_end - timedelta(hours=1)
    try:
        source = build_source(OpsConfig.from_env(), getattr(store, "db", None))
        return serving_health(
            source.api_metrics(start, settings.batch_end),
            source.model_counts(start, settings.batch_end),
        )
    except Exception as exc:  # figures for an alert only: never stop the batch for them
        say(f"serving health not judged: {type(exc).__name__}: {exc}".splitlines()[0])
        return None


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
    parser.add_argument(
        "--state",
        default=None,
        metavar="ROOT",
        help="the job's compact copies of processed hours (default: INPUT/_state)",
    )
    parser.add_argument(
        "--rebuild",
        type=_hour_argument,
        default=None,
        metavar="FROM",
        help="reprocess every hour from FROM (e.g. 2026-11-28T00) from the raw logs",
    )
    parser.add_argument(
        "--horizon-hours",
        type=int,
        default=None,
        help="how far back missed hours are caught up (default: the longest window)",
    )
    parser.add_argument(
        "--late-hours",
        type=int,
        default=3,
        help="clicks up to this many hours past the attribution window count as late, "
        "older ones as orphans (default: %(default)s)",
    )
    parser.add_argument(
        "--no-guardrails",
        action="store_true",
        help="save every batch without judging it by the experiments' guardrails",
    )
    parser.add_argument(
        "--wait-lease",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="wait this long for another run of the job to finish (default: do not wait)",
    )


def settings_from_args(args: argparse.Namespace, now: datetime) -> JobSettings:
    return JobSettings(
        root=args.input,
        batch_end=args.batch_end or last_full_hour(now),
        window_hours=args.window_hours,
        attribution_seconds=args.attribution_minutes * 60,
        quarantine_root=args.quarantine,
        state_root=args.state,
        rebuild_from=args.rebuild,
        horizon_hours=args.horizon_hours,
        late_hours=args.late_hours,
        lease_wait_seconds=args.wait_lease,
        guardrails=not getattr(args, "no_guardrails", False),
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
    except DynabError as exc:  # e.g. another run holds the lease: one line, exit 1
        print(f"update_params: {exc}", file=sys.stderr)
        return 1
    finally:
        db.client.close()
    print(report.summary())
    return 0


if __name__ == "__main__":
    # spark-submit runs this file as a script; the zipped packages sit on sys.path already.
    sys.exit(main())
