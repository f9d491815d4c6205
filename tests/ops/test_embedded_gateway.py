"""The embedded source against the local gateway over real HTTP and the embedded MongoDB.

The gateway runs in-process on a free port with an injected clock; a known sequence of requests
goes through it; the figures the source reads back are checked against what the responses
themselves said (X-Cache header, status, model code).
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta

import numpy as np
import pytest

from services.experiments import ExperimentType
from services.gateway.cache import TtlCache
from services.gateway.recorder import GatewayRecorder
from services.gateway.server import SelectorGateway
from services.lifecycle import Action
from services.ops.embedded import EmbeddedOpsSource
from services.ops.figures import api_totals, served_per_model
from services.ops.split_check import check_split, weight_schedule
from services.serving.config_cache import ConfigurationCache
from services.serving.service import SelectorService
from tests.foundation.factories import area, experiment

H9 = datetime(2026, 11, 28, 9, 0, 0)


class CountingRecorder(GatewayRecorder):
    """The gateway's recorder, plus a way to wait until it has counted n requests.

    The gateway records a request after it has sent the answer, so a client can hold its answer
    before the request is counted; advancing the test clock then would move the request into the
    next minute. Waiting here is synchronisation, not a timed assertion.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.recorded = 0
        self._recorded = threading.Condition()

    def record_request(self, status: int, cache_hit: bool, latency_ms: float) -> None:
        super().record_request(status, cache_hit, latency_ms)
        with self._recorded:
            self.recorded += 1
            self._recorded.notify_all()

    def wait_for(self, n: int) -> None:
        with self._recorded:
            assert self._recorded.wait_for(lambda: self.recorded >= n, timeout=30), self.recorded


@pytest.fixture
def gateway(store, mongo_db, clock) -> Iterator[tuple[SelectorGateway, CountingRecorder]]:
    store.save_area(area("MAIN", "MAIN-DEFAULT-01"))
    exp = store.create_experiment(
        experiment(type=ExperimentType.STATIC, salt="ops-test"), by="test"
    )
    store.apply_action(exp.experiment_id, Action.START, expected_version=1, by="test")
    # A long flush interval: the test flushes itself, so nothing depends on timing.
    recorder = CountingRecorder(mongo_db, clock, flush_seconds=3600)
    service = SelectorService(
        ConfigurationCache(store, clock), clock, recorder, rng=np.random.default_rng(7)
    )
    server = SelectorGateway(("127.0.0.1", 0), service, TtlCache(clock, ttl_seconds=300), recorder)
    server.start_background()
    try:
        yield server, recorder
    finally:
        server.shutdown()
        server.server_close()


def _get(url: str) -> tuple[int, str | None, dict]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.headers.get("X-Cache"), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("X-Cache"), json.loads(error.read())


def test_hit_ratio_errors_and_model_counts_read_back_per_hour(gateway, store, mongo_db, clock):
    server, recorder = gateway
    answers: list[tuple[datetime, int, str | None, dict]] = []

    def call(query: str) -> None:
        status, x_cache, body = _get(f"{server.url}?{query}")
        answers.append((clock.now().replace(minute=0), status, x_cache, body))

    # 09:00: 20 members twice each (20 misses, then 20 hits), and 2 requests without a member.
    for _ in range(2):
        for m in range(20):
            call(f"member_id=m{m}&area_code=MAIN")
    call("area_code=MAIN")
    call("area_code=MAIN")
    recorder.wait_for(42)
    # 10:00: the cached answers (TTL 300 s) have expired: 30 members, all misses.
    clock.advance(hours=1, minutes=5)
    for m in range(30):
        call(f"member_id=m{m}&area_code=MAIN")
    recorder.wait_for(72)
    recorder.flush()

    source = EmbeddedOpsSource(mongo_db)
    periods = source.api_metrics(H9, H9 + timedelta(hours=2))
    counts = source.model_counts(H9, H9 + timedelta(hours=2))

    # By hand, from the responses themselves.
    h10 = H9 + timedelta(hours=1)
    hits9 = sum(1 for t, _, x, _ in answers if t == H9 and x == "Hit")
    assert hits9 == 20
    assert [p.start for p in periods] == [H9, h10]
    p9, p10 = periods
    assert (p9.requests, p9.cache_hits, p9.cache_misses, p9.errors_4xx, p9.errors_5xx) == (
        42,
        20,
        22,
        2,
        0,
    )
    assert p9.hit_ratio == pytest.approx(20 / 42)
    assert (p10.requests, p10.cache_hits, p10.cache_misses) == (30, 0, 30)
    assert p10.hit_ratio == 0.0
    assert api_totals(periods).hit_ratio == pytest.approx(20 / 72)
    assert p9.latency_p50_ms is not None and p9.latency_p50_ms <= p9.latency_p99_ms

    # The selector only ran on misses with a valid request: count those answers' model codes.
    served = {
        hour: Counter(
            b["model_code"] for t, s, x, b in answers if t == hour and s == 200 and x == "Miss"
        )
        for hour in (H9, h10)
    }
    assert served_per_model(counts, "EXP-01") == {h: dict(c) for h, c in served.items()}
    assert sum(served[H9].values()) == 20 and sum(served[h10].values()) == 30
    assert {c.reason for c in counts} == {"static"}

    # A 1:1 static test over 50 selections: no mismatch to flag.
    exp = store.get_experiment("EXP-01")
    check = check_split(exp, served_per_model(counts, "EXP-01"), weight_schedule(exp))
    assert check.total == 50 and not check.mismatch
