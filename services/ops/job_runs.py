"""Parameter-job runs: when the job last ran, how long it took, what it read and wrote.

The parameter batches say what the job decided per experiment, but not how the run went as a
whole (duration, events read, malformed lines, failures). The job records one :class:`JobRun`
per run in the ``job_runs`` collection; the Operations page lists the recent ones.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pymongo import DESCENDING
from pymongo.database import Database
from pymongo.errors import PyMongoError

from services.exceptions import ValidationError
from services.ops.exceptions import OpsSourceError

JOB_RUNS = "job_runs"
STATUSES = frozenset({"succeeded", "failed"})


@dataclass(frozen=True)
class JobRun:
    """One run of the parameter-update job.

    Attributes:
        batch_end: The batch the run computed (its end hour).
        started_at: Wall-clock start, naive UTC.
        finished_at: Wall-clock end, naive UTC.
        status: ``succeeded`` or ``failed``.
        events: Valid events read.
        hourly_rows: Hourly metric rows written.
        experiments: Experiments that got a parameter batch.
        malformed_lines: Lines that could not be parsed (quarantined).
        seconds: Time per stage (extract, transform, load).
        error: The failure's one-line message.
    """

    batch_end: datetime
    started_at: datetime
    finished_at: datetime
    status: str = "succeeded"
    events: int = 0
    hourly_rows: int = 0
    experiments: tuple[str, ...] = ()
    malformed_lines: int = 0
    seconds: Mapping[str, float] = field(default_factory=dict)
    error: str | None = None

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValidationError(
                "status", f"must be one of {sorted(STATUSES)}, got {self.status!r}"
            )
        if self.finished_at < self.started_at:
            raise ValidationError("finished_at", "must not be before started_at")
        for name in ("events", "hourly_rows", "malformed_lines"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValidationError(name, f"must be a non-negative whole number, got {value!r}")
        for stage, value in self.seconds.items():
            if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                raise ValidationError(f"seconds.{stage}", f"must be non-negative, got {value!r}")
        object.__setattr__(self, "experiments", tuple(self.experiments))
        object.__setattr__(self, "seconds", dict(self.seconds))

    @property
    def duration_seconds(self) -> float:
        return (self.finished_at - self.started_at).total_seconds()

    @classmethod
    def from_report(
        cls,
        report: Any,
        *,
        started_at: datetime,
        finished_at: datetime,
        error: str | None = None,
    ) -> JobRun:
        """A run from the job's own report (``spark.update_params.JobReport``, duck-typed).

        Duck-typed so that ``services`` does not import the Spark job.
        """
        return cls(
            batch_end=report.batch_end,
            started_at=started_at,
            finished_at=finished_at,
            status="failed" if error else "succeeded",
            events=int(report.events),
            hourly_rows=int(report.hourly_rows),
            experiments=tuple(report.batches),
            malformed_lines=int(report.malformed_lines),
            seconds={k: float(v) for k, v in dict(report.seconds).items()},
            error=error,
        )

    def to_doc(self) -> dict[str, Any]:
        return {
            "batch_end": self.batch_end,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "status": self.status,
            "events": self.events,
            "hourly_rows": self.hourly_rows,
            "experiments": list(self.experiments),
            "malformed_lines": self.malformed_lines,
            "seconds": dict(self.seconds),
            "error": self.error,
        }

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> JobRun:
        return cls(
            batch_end=doc["batch_end"],
            started_at=doc["started_at"],
            finished_at=doc["finished_at"],
            status=doc.get("status", "succeeded"),
            events=int(doc.get("events", 0)),
            hourly_rows=int(doc.get("hourly_rows", 0)),
            experiments=tuple(doc.get("experiments", ())),
            malformed_lines=int(doc.get("malformed_lines", 0)),
            seconds=dict(doc.get("seconds") or {}),
            error=doc.get("error"),
        )


class JobRunLog:
    """The ``job_runs`` collection: one inserted document per run, never updated."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def ensure_indexes(self) -> None:
        self.db[JOB_RUNS].create_index([("started_at", DESCENDING)])

    def record(self, run: JobRun) -> None:
        """Store a run. ``insert_one``: every run is a new document (no upsert needed)."""
        try:
            self.db[JOB_RUNS].insert_one(run.to_doc())
        except PyMongoError as exc:
            raise OpsSourceError(f"could not record the job run: {exc}") from exc

    def recent(self, limit: int = 20) -> list[JobRun]:
        """The newest runs first."""
        try:
            docs = self.db[JOB_RUNS].find({}, {"_id": 0}).sort("started_at", DESCENDING)
            return [JobRun.from_doc(d) for d in docs.limit(int(limit))]
        except PyMongoError as exc:
            raise OpsSourceError(f"could not read the job runs: {exc}") from exc
