"""Per-minute counters and the handler's log lines, buffered and written to MongoDB.

Requests only touch memory: counters are added under a lock and log records appended to a
bounded buffer. A background thread flushes every ``flush_seconds``.

Every flush is idempotent, because a write that timed out may still have been applied by the
server, and the flush after it must not apply it again:

* **Counters**: this process keeps, per minute, its running totals since it started and writes
  them as absolute values with a ``ReplaceOne`` upsert to a document of its own for that minute
  (``_id`` = ``gw-WRITER-SEGMENT|MINUTE``, chosen when the minute was first counted). Writing a
  total twice leaves the same document; readers sum a minute's documents
  (:func:`services.gateway.stats.minutes`). At most :data:`MAX_MINUTES` minutes are kept, the
  written ones forgotten first; when half of them wait to be written the flush runs at once (a
  fast demo clock opens minutes faster than the timer). A minute pushed out before it could be
  written (MongoDB down that long) is dropped, counted in ``dropped_requests`` and logged.
* **Log records** get their ``_id`` when they are appended, before any attempt, and are written
  with an unordered ``insert_many``: a record already stored is a duplicate-key error, taken as
  written. The buffer holds at most ``max_logs`` records; past that the oldest are dropped,
  counted in ``dropped_logs`` and logged.

Errors go to stderr through a :class:`RateLimitedLog`: one line per kind per interval.
"""

from __future__ import annotations

import bisect
import threading
import uuid
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import ReplaceOne
from pymongo.database import Database
from pymongo.errors import BulkWriteError, PyMongoError

from services.clock import Clock
from services.gateway import schema
from services.gateway.ratelimit import RateLimitedLog

MAX_MINUTES = 60
#: Most log records per ``insert_many``: one flush after an outage must not be one huge write.
LOG_BATCH = 5_000
DUPLICATE_KEY = 11000


def _empty_counts() -> dict[str, float]:
    return dict.fromkeys((*schema.COUNT_FIELDS, *schema.LATENCY_FIELDS, "latency_sum_ms"), 0)


@dataclass
class _Minute:
    doc_id: str
    counts: dict[str, float] = field(default_factory=_empty_counts)
    version: int = 0  # bumped by every request
    written: int = 0  # the version last stored


class GatewayRecorder:
    """Collects what API Gateway would report to CloudWatch, and the selector's log lines."""

    def __init__(
        self,
        db: Database | None,
        clock: Clock,
        *,
        flush_seconds: float = 2.0,
        max_logs: int = 20_000,
        log: RateLimitedLog | None = None,
    ) -> None:
        if max_logs < 1:
            raise ValueError(f"max_logs must be positive, got {max_logs!r}")
        self.db = db
        self.clock = clock
        self.flush_seconds = flush_seconds
        self.max_logs = max_logs
        self.log = log or RateLimitedLog("dynab gateway")
        self.dropped_logs = 0
        self.dropped_requests = 0
        self.duplicate_logs = 0
        self.flush_errors = 0
        self._writer = uuid.uuid4().hex[:12]
        self._minutes: OrderedDict[datetime, _Minute] = OrderedDict()
        self._logs: deque[dict[str, Any]] = deque()
        self._indexed = False
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    # --- the request path (memory only) ---------------------------------------------------

    def record_request(self, status: int, cache_hit: bool, latency_ms: float) -> None:
        minute = self.clock.now().replace(second=0, microsecond=0)
        bucket = schema.LATENCY_FIELDS[bisect.bisect_left(schema.LATENCY_BOUNDS_MS, latency_ms)]
        status_field = (
            "status_5xx" if status >= 500 else "status_4xx" if status >= 400 else "status_2xx"
        )
        lost = 0
        with self._lock:
            entry = self._minutes.get(minute)
            if entry is None:
                # A new document for every minute this process (re)starts counting: a minute
                # pushed out of memory and counted again must not overwrite what was stored.
                doc_id = schema.writer_minute_id(self._writer, uuid.uuid4().hex[:6], minute)
                entry = self._minutes[minute] = _Minute(doc_id)
                while len(self._minutes) > MAX_MINUTES:
                    gone = self._minutes.pop(self._evictable())
                    if gone.version != gone.written:
                        lost += int(gone.counts["requests"])
                unwritten = sum(1 for m in self._minutes.values() if m.version != m.written)
                if unwritten >= MAX_MINUTES // 2:
                    # A fast clock (the demo's) opens minutes faster than the timer flushes:
                    # flush now rather than push unwritten minutes out.
                    self._wake.set()
            counts = entry.counts
            counts["requests"] += 1
            counts["cache_hits" if cache_hit else "cache_misses"] += 1
            counts[status_field] += 1
            counts[bucket] += 1
            counts["latency_sum_ms"] += latency_ms
            entry.version += 1
            self.dropped_requests += lost
        if lost:
            self.log.say(
                "dropped-minute",
                f"dropped the counters of a minute never written to MongoDB ({lost} requests; "
                f"{self.dropped_requests} so far)",
            )

    # The selector's SelectionLog protocol: the gateway keeps the handler's log lines.

    def selection(self, record: dict[str, Any]) -> None:
        self._append_log(record)

    def error(self, message: str, **fields: Any) -> None:
        self.log.say(f"selector:{message}", f"selector: {message} {fields}")
        self._append_log({"event": "error", "message": message, **fields})

    def _append_log(self, record: dict[str, Any]) -> None:
        # The id is chosen here, once: every attempt to write the record writes the same one.
        record = {"_id": ObjectId(), **record}
        with self._lock:
            self._logs.append(record)
            dropped = len(self._logs) - self.max_logs
            for _ in range(dropped):
                self._logs.popleft()
            if dropped > 0:
                self.dropped_logs += dropped
        if dropped > 0:
            self._say_dropped()

    def _evictable(self) -> datetime:
        """The minute to forget: the oldest already written, else the oldest (its counts lost)."""
        written = [minute for minute, m in self._minutes.items() if m.version == m.written]
        return min(written or self._minutes)

    def _say_dropped(self) -> None:
        self.log.say(
            "dropped-logs",
            f"log buffer full ({self.max_logs} records waiting for MongoDB): dropped the "
            f"oldest; {self.dropped_logs} dropped so far",
        )

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
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        if not self.flush() and any(self.pending()):
            minutes, logs = self.pending()
            self.log.say(
                "stop",
                f"stopping with {minutes} minutes of counters and {logs} log records "
                "not written to MongoDB",
            )

    def _run(self) -> None:
        while True:
            self._wake.wait(self.flush_seconds)
            self._wake.clear()
            if self._stop.is_set():
                return
            self.flush()

    def pending(self) -> tuple[int, int]:
        """(minutes with counts not yet written, log records) waiting in memory."""
        with self._lock:
            unwritten = sum(1 for m in self._minutes.values() if m.version != m.written)
            return unwritten, len(self._logs)

    def flush(self) -> bool:
        """Write what is pending; keep it for the next try on failure. True if all was written."""
        if self.db is None:
            return True
        with self._flush_lock:
            # In order, stopping at the first failure: during an outage one flush costs one
            # server-selection timeout, not three.
            return self._ensure_indexes() and self._flush_minutes() and self._flush_logs()

    def _failed(self, what: str, exc: PyMongoError) -> None:
        self.flush_errors += 1
        message = str(exc).split(", Timeout:")[0].split(", full error:")[0]
        self.log.say(
            f"flush:{what}",
            f"could not {what} (kept for the next try): {type(exc).__name__}: {message[:300]}",
        )

    def _ensure_indexes(self) -> bool:
        if self._indexed:
            return True
        try:
            schema.ensure_indexes(self.db)  # type: ignore[arg-type]
        except PyMongoError as exc:
            self._failed("create the indexes in MongoDB", exc)
            return False
        self._indexed = True
        return True

    def _flush_minutes(self) -> bool:
        with self._lock:
            due = [
                (minute, m.doc_id, dict(m.counts), m.version)
                for minute, m in self._minutes.items()
                if m.version != m.written
            ]
        if not due:
            return True
        writes = [
            ReplaceOne(
                {"_id": doc_id},
                # _id in the replacement too: the embedded server does not take it from the
                # filter when the upsert inserts.
                {"_id": doc_id, "minute": minute, "writer": self._writer, **counts},
                upsert=True,
            )
            for minute, doc_id, counts, _ in due
        ]
        try:
            self.db[schema.GATEWAY_METRICS].bulk_write(writes, ordered=False)  # type: ignore[index]
        except PyMongoError as exc:
            self._failed("write the counters to MongoDB", exc)
            return False
        with self._lock:
            for minute, _, _, version in due:
                entry = self._minutes.get(minute)
                if entry is not None:
                    entry.written = version
        return True

    def _flush_logs(self) -> bool:
        while True:
            with self._lock:
                batch = [self._logs[i] for i in range(min(LOG_BATCH, len(self._logs)))]
            if not batch:
                return True
            for record in batch:
                if isinstance(record.get("at"), str):
                    record["at"] = datetime.fromisoformat(record["at"])
            try:
                self.db[schema.SELECTOR_LOGS].insert_many(batch, ordered=False)  # type: ignore[index]
            except BulkWriteError as exc:
                errors = exc.details.get("writeErrors", [])
                if not errors or any(e.get("code") != DUPLICATE_KEY for e in errors):
                    self._failed("write the log records to MongoDB", exc)
                    return False
                # Stored by an attempt whose answer was lost: written, exactly once.
                self.duplicate_logs += len(errors)
            except PyMongoError as exc:
                self._failed("write the log records to MongoDB", exc)
                return False
            with self._lock:
                # Only the records written leave the buffer; appends went to its other end,
                # and drops (from the front) while writing are accounted by identity.
                written = {id(r) for r in batch}
                while self._logs and id(self._logs[0]) in written:
                    self._logs.popleft()
