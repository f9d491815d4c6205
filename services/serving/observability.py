"""What the selector tells the world about each selection: one log record, and where it goes.

The record is flat JSON with the model code at the top level, so that CloudWatch Logs Insights
can count the models served with ``stats count(*) by model_code`` -- the check that sampling and
the split behave. The member appears only as a keyed hash (HMAC-SHA256): enough to count distinct
members and follow one member's answers, never the raw id.

A :class:`SelectionLog` is where records go: Powertools' JSON logger and an EMF metric per model
on Lambda (:class:`PowertoolsLog`), the local gateway's MongoDB buffer locally, a list in tests.
"""

from __future__ import annotations

import hashlib
import hmac
import sys
from datetime import datetime
from typing import Any, Protocol

from services.algorithms.base import Reason, Selection

METRICS_NAMESPACE = "dynab"


def member_hash(member_id: str, key: str) -> str:
    """A stable pseudonym of ``member_id``: the first 16 hex digits of HMAC-SHA256."""
    return hmac.new(key.encode(), member_id.encode(), hashlib.sha256).hexdigest()[:16]


def selection_record(
    *,
    at: datetime,
    area_code: str,
    experiment_id: str | None,
    selection: Selection,
    member: str,
    stale: bool = False,
) -> dict[str, Any]:
    """The structured record of one selection (``member`` is already hashed)."""
    return {
        "event": "selection",
        "at": at.isoformat(timespec="milliseconds"),
        "area_code": area_code,
        "experiment_id": experiment_id,
        "model_code": selection.model_code,
        "reason": str(selection.reason),
        "batch_id": selection.batch_id,
        "propensity": selection.propensity,
        "member_hash": member,
        "stale_config": stale,
    }


class SelectionLog(Protocol):
    def selection(self, record: dict[str, Any]) -> None:
        """One selection was served."""
        ...

    def error(self, message: str, **fields: Any) -> None:
        """Something degraded (store outage, algorithm failure); the request was still served."""
        ...


class ListLog:
    """Keeps records in memory (bounded); for tests and benchmarks."""

    def __init__(self, limit: int = 100_000) -> None:
        self.records: list[dict[str, Any]] = []
        self.errors: list[dict[str, Any]] = []
        self.limit = limit

    def selection(self, record: dict[str, Any]) -> None:
        if len(self.records) < self.limit:
            self.records.append(record)

    def error(self, message: str, **fields: Any) -> None:
        if len(self.errors) < self.limit:
            self.errors.append({"message": message, **fields})


class StderrLog:
    """Prints errors only; the selection records are dropped (for tools that only need answers)."""

    def selection(self, record: dict[str, Any]) -> None:
        return None

    def error(self, message: str, **fields: Any) -> None:
        print(f"dynab selector: {message} {fields or ''}".rstrip(), file=sys.stderr, flush=True)


class PowertoolsLog:
    """Lambda: a JSON log line per selection and an EMF ``ModelServed`` count per model.

    Powertools is used for both because it writes exactly what CloudWatch wants on stdout (JSON
    logs with the request id, EMF blobs the Lambda agent turns into metrics) without an API call
    per request and without a background thread; the selection logic never sees it.
    """

    def __init__(self, logger: Any, namespace: str = METRICS_NAMESPACE) -> None:
        self.logger = logger
        self.namespace = namespace

    def selection(self, record: dict[str, Any]) -> None:
        from aws_lambda_powertools.metrics import MetricUnit, single_metric

        self.logger.info("selection", extra=record)
        # single_metric flushes one EMF blob at once: one invocation, one dimension set, and no
        # metrics object shared between invocations.
        with single_metric(
            name="ModelServed", unit=MetricUnit.Count, value=1, namespace=self.namespace
        ) as metric:
            metric.add_dimension("area_code", record["area_code"])
            metric.add_dimension("model_code", record["model_code"])
        if record["reason"] == Reason.FALLBACK:
            with single_metric(
                name="Fallback", unit=MetricUnit.Count, value=1, namespace=self.namespace
            ) as metric:
                metric.add_dimension("area_code", record["area_code"])

    def error(self, message: str, **fields: Any) -> None:
        self.logger.error(message, extra=fields)
