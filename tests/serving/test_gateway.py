"""The local API gateway over real HTTP on 127.0.0.1, with the embedded MongoDB behind it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from pymongo.database import Database

from services.clock import FixedClock
from services.gateway import stats
from services.gateway.cache import TtlCache
from services.gateway.recorder import GatewayRecorder
from services.gateway.server import SelectorGateway
from services.mongo.embedded import EmbeddedMongo
from services.mongo.repository import MongoStore
from tests.serving.conftest import make_service, start_experiment

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Running:
    gateway: SelectorGateway
    recorder: GatewayRecorder
    cache: TtlCache
    clock: FixedClock

    def get(self, query: str, path: str = "/select") -> tuple[int, dict, str | None]:
        host, port = self.gateway.server_address[:2]
        try:
            with urllib.request.urlopen(f"http://{host}:{port}{path}?{query}", timeout=10) as r:
                return r.status, json.loads(r.read()), r.headers.get("X-Cache")
        except urllib.error.HTTPError as err:
            assert err.headers["Content-Type"] == "application/json"
            return err.code, json.loads(err.read()), err.headers.get("X-Cache")


@pytest.fixture
def running(store: MongoStore, clock: FixedClock) -> Iterator[Running]:
    start_experiment(store)
    recorder = GatewayRecorder(store.db, clock, flush_seconds=3600)  # flushed by the tests
    service = make_service(store, clock, log=None)
    service.log = recorder
    cache: TtlCache = TtlCache(clock, ttl_seconds=300, max_entries=50)
    gateway = SelectorGateway(("127.0.0.1", 0), service, cache, recorder)
    gateway.start_background()
    yield Running(gateway, recorder, cache, clock)
    gateway.shutdown()
    gateway.server_close()
    recorder.stop()


def test_miss_then_hit_returns_the_same_answer(running: Running) -> None:
    first = running.get("member_id=1001&area_code=MAIN")
    second = running.get("member_id=1001&area_code=MAIN")
    other = running.get("member_id=1002&area_code=MAIN")
    assert first[0] == 200 and first[2] == "Miss"
    assert second == (200, first[1], "Hit")
    assert other[2] == "Miss"
    assert first[1]["experiment_id"] == "EXP-01"


def test_ttl_expiry_with_the_injected_clock(running: Running) -> None:
    assert running.get("member_id=7&area_code=MAIN")[2] == "Miss"
    running.clock.advance(seconds=299)
    assert running.get("member_id=7&area_code=MAIN")[2] == "Hit"
    running.clock.advance(seconds=1)
    assert running.get("member_id=7&area_code=MAIN")[2] == "Miss"


def test_errors_are_json_and_not_cached(running: Running) -> None:
    assert running.get("member_id=1")[:2] == (
        400,
        {"error": "area_code is required", "parameter": "area_code"},
    )
    status, body, x_cache = running.get("member_id=1&area_code=NOPE")
    assert (status, x_cache) == (404, "Miss") and "NOPE" in body["error"]
    assert running.get("member_id=1&area_code=NOPE")[2] == "Miss"
    assert running.get("member_id=1&member_id=2&area_code=MAIN")[0] == 400
    assert running.get("", path="/elsewhere")[0] == 404


def test_other_methods_are_405_json(running: Running) -> None:
    host, port = running.gateway.server_address[:2]
    request = urllib.request.Request(f"http://{host}:{port}/select", data=b"{}", method="POST")
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=10)
    assert caught.value.code == 405
    assert "GET" in json.loads(caught.value.read())["error"]


def test_counters_and_logs_are_persisted_and_read_back(
    running: Running, mongo_db: Database
) -> None:
    # GIVEN 3 misses, 2 hits and one 400 in one minute, and one request in the next minute
    for query in ["member_id=1", "member_id=2", "member_id=3", "member_id=1", "member_id=2"]:
        running.get(query + "&area_code=MAIN")
    running.get("member_id=1")
    running.recorder.flush()
    running.clock.advance(minutes=1)
    running.get("member_id=1&area_code=MAIN")
    running.recorder.flush()
    # WHEN another process reads the figures back
    rows = stats.minutes(mongo_db)
    # THEN per minute: requests, hits, misses, 4xx; the ratio over the whole period
    assert [(r.requests, r.cache_hits, r.cache_misses, r.status_4xx) for r in rows] == [
        (6, 2, 4, 1),
        (1, 1, 0, 0),
    ]
    whole = stats.total(rows)
    assert whole.cache_hit_ratio == pytest.approx(3 / 7)
    assert whole.latency_percentile_ms(0.99) is not None
    assert sum(whole.latency_histogram) == 7
    # The handler ran 3 times (the misses that reached it): 3 selection log lines.
    counts = stats.model_counts(mongo_db, area_code="MAIN")
    assert sum(counts.values()) == 3
    assert set(counts) <= {"EXP-01-APS002-01", "EXP-01-NCF-01"}
    assert all("member" not in str(rec.get("member_id")) for rec in stats.recent_logs(mongo_db))


def test_a_later_flush_adds_to_an_existing_minute(running: Running, mongo_db: Database) -> None:
    running.get("member_id=1&area_code=MAIN")
    running.recorder.flush()
    running.get("member_id=1&area_code=MAIN")
    running.recorder.flush()
    (row,) = stats.minutes(mongo_db)
    assert (row.requests, row.cache_hits, row.cache_misses) == (2, 1, 1)


def test_cache_and_buffers_stay_bounded_under_load(running: Running) -> None:
    for m in range(300):
        assert running.get(f"member_id={m}&area_code=MAIN")[0] == 200
    assert len(running.cache) == 50
    assert running.recorder.pending() == (1, 300)
    running.recorder.flush()
    assert running.recorder.pending() == (0, 0)


def test_histogram_percentile_interpolates_within_a_bucket() -> None:
    # 10 requests all in the (1, 1.5] ms bucket: the median is half-way through it.
    counts = [0] * 26
    counts[4] = 10
    assert stats.histogram_percentile(counts, 0.5) == pytest.approx(1.25)
    assert stats.histogram_percentile([0] * 26, 0.5) is None


def test_dynab_gateway_command_serves_and_stops(
    mongo_server: EmbeddedMongo, mongo_db: Database, tmp_path: Path
) -> None:
    from services.mongo.embedded import free_port

    port = free_port()
    env = {
        **os.environ,
        "MONGODB_URI": mongo_server.uri,
        "MONGODB_DB": mongo_db.name,
        "PYTHONUNBUFFERED": "1",
    }
    start_experiment(MongoStore(mongo_db))
    proc = subprocess.Popen(
        [sys.executable, "-m", "dynab.cli", "gateway", "--port", str(port), "--ttl", "60"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        lines = []
        for line in proc.stdout:  # type: ignore[union-attr]
            lines.append(line)
            if "ready on" in line:
                break
        assert any("ready on http://127.0.0.1:" in line for line in lines), lines
        url = f"http://127.0.0.1:{port}/select?member_id=5&area_code=MAIN"
        with urllib.request.urlopen(url, timeout=10) as resp:
            assert resp.status == 200 and json.loads(resp.read())["area_code"] == "MAIN"
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0
    assert "stopped" in out, out
    # The final flush on Ctrl-C wrote the minute.
    assert stats.total(stats.minutes(mongo_db)).requests == 1, out


def test_dynab_gateway_rejects_a_ttl_above_an_hour() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "dynab.cli", "gateway", "--ttl", "3601"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "MONGODB_URI": "mongodb://127.0.0.1:1/"},
    )
    assert result.returncode == 2
    assert "ttl" in result.stderr and "3600" in result.stderr


def test_ttl_must_be_within_api_gateway_range(clock: FixedClock) -> None:
    from services.exceptions import ValidationError

    for bad in (0, 3601, 1.5):
        with pytest.raises(ValidationError):
            TtlCache(clock, ttl_seconds=bad)
    assert TtlCache(clock, ttl_seconds=3600).ttl == timedelta(hours=1)
