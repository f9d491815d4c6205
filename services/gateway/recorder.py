"""Per-minute counters and the handler's log lines, buffered and written to MongoDB.

Requests only touch memory: counters are added under a lock and log records appended to a
bounded buffer. A background thread flushes every ``flush_seconds``: a minute seen for the first
time is inserted (``insert_one``), later flushes add to it with ``$inc`` -- the embedded server is
slow at upserts that insert -- and log records go out with ``insert_many``. If MongoDB is down,
counters wait in memory for at most :data:`MAX_PENDING_MINUTES` minutes and log records beyond
``max_logs`` are dropped and counted, so memory stays bounded whatever happens.
"""

from __future__ import annotations

import bisect
import sys
import threading
from collections import deque
from datetime import datetime
from typing import Any

from pymongo.database import Database
from pymongo.errors import DuplicateKeyError, PyMongoError

from services.clock import Clock
from services.gateway import schema

MAX_PENDING_MINUTES = 60


def _empty_counts() -> dict[str, float]:
    return dict.fromkeys((*schema.COUNT_FIELDS, *schema.LATENCY_FIELDS, "latency_sum_ms"), 0)


class GatewayRecorder:
    """Collects what API Gateway would report to CloudWatch, and the selector's log lines."""

    def __init__(
        self,
        db: Database | None,
        clock: Clock,
        *,
        flush_seconds: float = 2.0,
        max_logs: int = 20_000,
    ) -> None:
        self.db = db
        self.clock = clock
        self.flush_seconds = flush_seconds
        self.max_logs = max_logs
        self.dropped_logs = 0
        self.flush_errors = 0
        self._pending: dict[datetime, dict[str, float]] = {}
        self._logs: deque[dict[str, Any]] = deque()
        self._known_minutes: deque[datetime] = deque(maxlen=MAX_PENDING_MINUTES)
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- the request path (memory only) ---------------------------------------------------

    def record_request(self, status: int, cache_hit: bool, latency_ms: float) -> None:
        minute = self.clock.now().replace(second=0, microsecond=0)
        bucket = schema.LATENCY_FIELDS[bisect.bisect_left(schema.LATENCY_BOUNDS_MS, latency_ms)]
        status_field = (
            "status_5xx" if status >= 500 else "status_4xx" if status >= 400 else "status_2xx"
        )
        with self._lock:
            counts = self._pending.get(minute)
            if counts is None:
                counts = self._pending[minute] = _empty_counts()
                while len(self._pending) > MAX_PENDING_MINUTES:
                    del self._pending[min(self._pending)]
            counts["requests"] += 1
            counts["cache_hits" if cache_hit else "cache_misses"] += 1
            counts[status_field] += 1
            counts[bucket] += 1
            counts["latency_sum_ms"] += latency_ms

    # The selector's SelectionLog protocol: the gateway keeps the handler's log lines.

    def selection(self, record: dict[str, Any]) -> None:
        self._append_log(record)

    def error(self, message: str, **fields: Any) -> None:
        print(f"dynab gateway: selector: {message} {fields}", file=sys.stderr, flush=True)
        self._append_log({"event": "error", "message": message, **fields})

    def _append_log(self, record: dict[str, Any]) -> None:
        with self._lock:
            if len(self._logs) >= self.max_logs:
                self.dropped_logs += 1
                return
            self._logs.append(record)

    # --- flushing ---------------------------------------------------------------------------

    def start(self) -> GatewayRecorder:
        if self.db is not None and self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="dynab-gateway-flush", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the background thread and flush what is left."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self.flush()

    def _run(self) -> None:
        while not self._stop.wait(self.flush_seconds):
            self.flush()

    def pending(self) -> tuple[int, int]:
        """(minutes, log records) waiting in memory."""
        with self._lock:
            return len(self._pending), len(self._logs)

    def flush(self) -> None:
        """Write the pending counters and log records; keep them for the next try on failure."""
        if self.db is None:
            return
        with self._flush_lock:
            with self._lock:
                pending, self._pending = self._pending, {}
                logs = list(self._logs)
                self._logs.clear()
            try:
                self._write_minutes(pending)
                pending = {}
                if logs:
                    for record in logs:
                        if isinstance(record.get("at"), str):
                            record["at"] = datetime.fromisoformat(record["at"])
                    self.db[schema.SELECTOR_LOGS].insert_many(logs, ordered=False)
                    logs = []
            except PyMongoError as exc:
                self.flush_errors += 1
                print(f"dynab gateway: could not write metrics: {exc}", file=sys.stderr)
                self._restore(pending, logs)

    def _write_minutes(self, pending: dict[datetime, dict[str, float]]) -> None:
        col = self.db[schema.GATEWAY_METRICS]  # type: ignore[index]
        for minute in sorted(pending):
            counts = {k: v for k, v in pending[minute].items() if v}
            _id = schema.minute_id(minute)
            if minute not in self._known_minutes:
                try:
                    col.insert_one({"_id": _id, "minute": minute, **counts})
                except DuplicateKeyError:  # written by an earlier run or another gateway
                    col.update_one({"_id": _id}, {"$inc": counts})
                self._known_minutes.append(minute)
            else:
                col.update_one({"_id": _id}, {"$inc": counts})
            # Written: a failure on a later minute must not write this one twice.
            pending[minute] = {}

    def _restore(
        self, pending: dict[datetime, dict[str, float]], logs: list[dict[str, Any]]
    ) -> None:
        with self._lock:
            for minute, counts in pending.items():
                if not counts:
                    continue
                into = self._pending.setdefault(minute, _empty_counts())
                for key, value in counts.items():
                    into[key] += value
            while len(self._pending) > MAX_PENDING_MINUTES:
                del self._pending[min(self._pending)]
            room = self.max_logs - len(self._logs)
            self.dropped_logs += max(0, len(logs) - room)
            self._logs.extendleft(reversed(logs[: max(room, 0)]))
