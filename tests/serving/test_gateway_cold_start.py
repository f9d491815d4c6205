"""Starting with MongoDB down: the gateway serves area defaults at once, then experiments.

Real sockets: the gateway listens on a free port; "MongoDB down" is a port where nothing
listens, and "MongoDB back" is the embedded server started on that very port.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np

from services.clock import FixedClock
from services.exceptions import StoreUnavailableError
from services.gateway.cache import TtlCache
from services.gateway.recorder import GatewayRecorder
from services.gateway.server import SelectorGateway
from services.mongo.embedded import EmbeddedMongo, free_port
from services.mongo.repository import MongoStore, connect
from services.serving.config_cache import ConfigurationCache
from services.serving.service import SelectorService
from services.serving.settings import ServingSettings
from tests.serving.conftest import start_experiment

ROOT = Path(__file__).resolve().parents[2]


def _get(port: int, member: str, area: str = "MAIN") -> dict:
    url = f"http://127.0.0.1:{port}/select?member_id={member}&area_code={area}"
    with urllib.request.urlopen(url, timeout=10) as resp:
        assert resp.status == 200
        return json.loads(resp.read())


def test_store_down_at_start_costs_one_attempt_per_retry_interval(
    tmp_path: Path, clock: FixedClock
) -> None:
    # GIVEN a gateway whose MongoDB port has nobody listening, with a default for every area
    port = free_port()
    db = connect(f"mongodb://127.0.0.1:{port}/", db_name="cold", timeout_ms=500)
    cache = ConfigurationCache(MongoStore(db, clock), clock, retry_seconds=5)
    settings = ServingSettings(retry_seconds=5, area_defaults={"*": "SAFE-01"})
    recorder = GatewayRecorder(None, clock)
    service = SelectorService(cache, clock, recorder, settings, np.random.default_rng(7))
    gateway = SelectorGateway(("127.0.0.1", 0), service, TtlCache(clock), recorder)
    gateway.start_background()
    http_port = gateway.server_address[1]
    server = EmbeddedMongo(data_dir=tmp_path / "mongo", port=port)
    try:
        # WHEN 30 members ask for two areas within the retry interval
        answers = [_get(http_port, f"m{i}", ("MAIN", "CART")[i % 2]) for i in range(30)]
        # THEN all get the default, reason fallback, and the store was asked once in all
        assert {(a["model_code"], a["reason"]) for a in answers} == {("SAFE-01", "fallback")}
        assert (cache.loads, cache.failures) == (1, 1)

        # WHEN the interval passes with the store still down: one more attempt, not one each
        clock.advance(seconds=5)
        answers = [_get(http_port, f"n{i}") for i in range(10)]
        assert {a["reason"] for a in answers} == {"fallback"}
        assert (cache.loads, cache.failures) == (2, 2)

        # WHEN MongoDB comes up on that port with an experiment in MAIN, and the interval passes
        server.start()
        start_experiment(MongoStore(connect(server.uri, db_name="cold"), clock))
        clock.advance(seconds=5)
        # THEN the next new member is served by the experiment
        answer = _get(http_port, "after-1")
        assert answer["experiment_id"] == "EXP-01" and answer["reason"] != "fallback"
        assert cache.failures == 2 and not cache.store_down
    finally:
        gateway.shutdown()
        gateway.server_close()
        server.stop()
        db.client.close()


def test_dynab_gateway_starts_without_mongodb_then_serves_experiments(
    tmp_path: Path, clock: FixedClock
) -> None:
    mongo_port, port = free_port(), free_port()
    env = {
        **os.environ,
        "MONGODB_URI": f"mongodb://127.0.0.1:{mongo_port}/",
        "MONGODB_DB": "cold",
        "DYNAB_STORE_RETRY_SECONDS": "5",
        "PYTHONUNBUFFERED": "1",
    }
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "dynab.cli", "gateway", "--port", str(port)),
            *("--ttl", "60", "--area-defaults", '{"*": "SAFE-01"}'),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    server = EmbeddedMongo(data_dir=tmp_path / "mongo", port=mongo_port)
    try:
        lines = []
        for line in proc.stdout:  # type: ignore[union-attr]
            lines.append(line)
            if "ready on" in line:
                break
        assert any("ready on" in line for line in lines), lines
        assert any("does not answer" in line for line in lines), lines
        # The start-up's failed ping is remembered: no answer waits on MongoDB.
        waits = []
        for i in range(6):
            started = time.perf_counter()
            assert _get(port, f"m{i}")["reason"] == "fallback"
            waits.append(time.perf_counter() - started)
        assert max(waits) < 0.9, waits  # a store attempt costs >= 1 s (DYNAB_MONGO_TIMEOUT_MS)

        server.start()
        start_experiment(MongoStore(connect(server.uri, db_name="cold"), clock))
        # Poll with new members (answers are cached per member) until MongoDB is asked again.
        deadline = time.monotonic() + 30
        answer: dict = {}
        n = 0
        while time.monotonic() < deadline:
            n += 1
            answer = _get(port, f"after-{n}")
            if answer["experiment_id"] == "EXP-01":
                break
            time.sleep(0.2)
        assert answer["experiment_id"] == "EXP-01", answer
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
        server.stop()
    assert proc.returncode == 0, out
    assert "Traceback" not in out, out


def test_dynab_commands_fail_in_one_line_when_mongodb_is_down() -> None:
    env = {**os.environ, "MONGODB_URI": f"mongodb://127.0.0.1:{free_port()}/"}
    result = subprocess.run(
        [sys.executable, "-m", "dynab.cli", "demo-data"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("dynab demo-data: error: MongoDB does not answer"), lines


def test_concurrent_first_requests_share_one_store_attempt(clock: FixedClock) -> None:
    # GIVEN a store nobody answers for, and 20 requests for one area arriving together
    db = connect(f"mongodb://127.0.0.1:{free_port()}/", db_name="cold", timeout_ms=500)
    cache = ConfigurationCache(MongoStore(db, clock), clock, retry_seconds=5)
    barrier = threading.Barrier(20)
    outcomes: list[str] = []

    def ask() -> None:
        barrier.wait()
        try:
            cache.get("MAIN")
            outcomes.append("served")
        except StoreUnavailableError:
            outcomes.append("unavailable")

    threads = [threading.Thread(target=ask) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    # THEN one of them asked the store; the others waited for its answer instead of asking too
    assert outcomes == ["unavailable"] * 20
    assert (cache.loads, cache.failures) == (1, 1)
    db.client.close()
