"""The gateway's recorder through a MongoDB that hangs, comes back, is killed and restarted.

Real sockets and a real embedded server of the test's own (not the session one): requests flow
through the gateway over HTTP the whole time. The server is frozen (SIGSTOP) just as the recorder
sends it log records, so that flush and the next ones time out with their writes still queued in
its socket; thawed (SIGCONT), it applies those writes although the gateway was told they failed --
the case that used to re-insert the same log records forever and add the same counts twice. Then
it is killed (SIGKILL) and restarted on the same data folder and port. Afterwards every served
request must be counted once and logged once.
"""

from __future__ import annotations

import http.client
import io
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from pymongo import MongoClient, monitoring

from services.clock import FixedClock
from services.gateway import schema, stats
from services.gateway.cache import TtlCache
from services.gateway.ratelimit import RateLimitedLog
from services.gateway.recorder import MAX_MINUTES, GatewayRecorder
from services.gateway.server import SelectorGateway
from services.mongo.embedded import EmbeddedMongo, free_port
from services.mongo.repository import MongoStore, connect
from services.serving.observability import member_hash
from tests.serving.conftest import make_service, start_experiment


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[EmbeddedMongo]:
    server = EmbeddedMongo(data_dir=tmp_path / "mongo").start()
    yield server
    server.stop()


class FreezeOnLogInsert(monitoring.CommandListener):
    """Freezes the server right before the first log insert after :meth:`arm` is sent."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.armed = threading.Event()
        self.frozen = threading.Event()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if (
            self.armed.is_set()
            and not self.frozen.is_set()
            and event.command_name == "insert"
            and event.command.get("insert") == schema.SELECTOR_LOGS
        ):
            os.kill(self.pid, signal.SIGSTOP)
            self.frozen.set()

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


class Traffic:
    """One keep-alive client sending requests for new members until stopped."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.served: list[str] = []
        self.statuses: Counter[int] = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        n = 0
        while not self._stop.is_set():
            member = f"m{n}"
            n += 1
            conn.request("GET", f"/select?member_id={member}&area_code=MAIN")
            resp = conn.getresponse()
            resp.read()
            self.statuses[resp.status] += 1
            if resp.status == 200:
                self.served.append(member)
            time.sleep(0.002)
        conn.close()

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def test_no_log_line_lost_or_doubled_and_counts_exact_through_an_outage(
    own_server: EmbeddedMongo, clock: FixedClock
) -> None:
    # GIVEN a gateway flushing every 0.1 s to a MongoDB with a 1 s socket timeout
    pid = own_server.process.pid  # type: ignore[union-attr]
    port = own_server.port
    freezer = FreezeOnLogInsert(pid)
    client: MongoClient = MongoClient(
        own_server.uri,
        serverSelectionTimeoutMS=300,
        connectTimeoutMS=300,
        socketTimeoutMS=1000,
        event_listeners=[freezer],
    )
    db = client["outage"]
    store = MongoStore(db, clock)
    store.ensure_indexes()
    start_experiment(store)
    errors = io.StringIO()
    recorder = GatewayRecorder(
        db, clock, flush_seconds=0.1, log=RateLimitedLog("gw", interval_seconds=60, stream=errors)
    )
    service = make_service(store, clock)
    service.log = recorder
    gateway = SelectorGateway(("127.0.0.1", 0), service, TtlCache(clock, max_entries=100), recorder)
    gateway.start_background()
    recorder.start()
    try:
        with Traffic(gateway.server_address[1]) as traffic:
            time.sleep(0.5)
            # WHEN the server hangs as log records are sent, long enough for flushes to time out
            freezer.armed.set()
            assert freezer.frozen.wait(timeout=10)
            time.sleep(2.5)
            # ... then applies the writes queued meanwhile, although they were reported failed,
            os.kill(pid, signal.SIGCONT)
            time.sleep(1.0)
            # ... then dies and comes back on the same data folder and port
            os.kill(pid, signal.SIGKILL)
            own_server.process.wait()  # type: ignore[union-attr]
            time.sleep(1.0)
            own_server.process = None
            own_server.port = port
            own_server.start()
            time.sleep(1.0)
    finally:
        gateway.shutdown()
        gateway.server_close()
        recorder.stop()

    # THEN every request was served, and its log line is stored exactly once ...
    assert set(traffic.statuses) == {200}, traffic.statuses
    served = len(traffic.served)
    assert served > 200
    check = connect(own_server.uri, db_name="outage", timeout_ms=3000)
    logged = Counter(d["member_hash"] for d in check[schema.SELECTOR_LOGS].find({}, {"_id": 0}))
    expected = {member_hash(m, service.settings.member_hash_key) for m in traffic.served}
    assert sum(logged.values()) == served, (sum(logged.values()), served)
    assert set(logged) == expected
    assert max(logged.values()) == 1
    # ... the counters add up to the requests served, no more ...
    whole = stats.total(stats.minutes(check))
    assert (whole.requests, whole.cache_misses, whole.status_2xx) == (served, served, served)
    # ... nothing is left behind, nothing was dropped ...
    assert recorder.pending() == (0, 0)
    assert recorder.dropped_logs == recorder.dropped_requests == 0
    # ... the outage did happen (flushes failed, and some writes were applied twice by the
    # server, which the recorder took as written) ...
    assert recorder.flush_errors > 0 and recorder.duplicate_logs > 0
    # ... and the error log said so in a few lines, not one per failed flush.
    lines = errors.getvalue().splitlines()
    assert 1 <= len(lines) <= 4, lines
    check.client.close()
    db.client.close()


def test_a_full_buffer_drops_the_oldest_records_counted_and_logged(clock: FixedClock) -> None:
    # GIVEN a recorder whose MongoDB never answers, holding at most 10 log records
    db = connect(f"mongodb://127.0.0.1:{free_port()}/", db_name="x", timeout_ms=100)
    errors = io.StringIO()
    recorder = GatewayRecorder(
        db, clock, max_logs=10, log=RateLimitedLog("gw", interval_seconds=60, stream=errors)
    )
    # WHEN 25 records arrive and two flushes fail
    for i in range(25):
        recorder.selection({"event": "selection", "n": i})
    assert recorder.flush() is False
    assert recorder.flush() is False
    # THEN the newest 10 wait, the 15 oldest are dropped and counted, in one log line each kind
    assert recorder.pending() == (0, 10)
    assert recorder.dropped_logs == 15
    assert [r["n"] for r in recorder._logs] == list(range(15, 25))
    lines = errors.getvalue().splitlines()
    assert len(lines) == 2, lines
    assert "dropped the oldest" in lines[0] and "could not create the indexes" in lines[1]
    db.client.close()


def test_a_fast_clock_loses_no_minute_between_timed_flushes(mongo_db, clock: FixedClock) -> None:
    # GIVEN a recorder whose timer would flush only once a minute of real time, and a clock that
    # opens a new minute with every request (a demo clock at thousands of times real speed)
    recorder = GatewayRecorder(mongo_db, clock, flush_seconds=60).start()
    try:
        # WHEN 3 x MAX_MINUTES minutes pass before the timer's first flush
        for _ in range(3 * MAX_MINUTES):
            recorder.record_request(200, cache_hit=False, latency_ms=5.0)
            clock.advance(minutes=1)
            time.sleep(0.03)  # the request rate; the flush runs in the background meanwhile
    finally:
        recorder.stop()
    # THEN no minute was pushed out unwritten: every request is counted once in MongoDB
    assert recorder.dropped_requests == 0
    counted = stats.total(stats.minutes(mongo_db))
    assert counted.requests == 3 * MAX_MINUTES
    assert len(stats.minutes(mongo_db)) == 3 * MAX_MINUTES


def test_rate_limited_log_prints_once_per_interval_with_a_count() -> None:
    now = [0.0]
    out = io.StringIO()
    log = RateLimitedLog("gw", interval_seconds=10, stream=out, monotonic=lambda: now[0])
    assert log.say("k", "down") is True
    for _ in range(99):
        now[0] += 0.05
        assert log.say("k", "down") is False
    assert log.say("other", "else") is True
    now[0] = 10.0
    assert log.say("k", "down") is True
    assert out.getvalue().splitlines() == [
        "gw: down",
        "gw: else",
        "gw: down (99 more like this in the last 10 s not shown)",
    ]
    assert (log.printed, log.suppressed) == (3, 99)
