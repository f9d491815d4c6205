"""Property-based fuzzing of the selector's query strings: never a 5xx, never an exception,
always JSON -- through the handler directly and through the local gateway over HTTP."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.clock import FixedClock
from services.gateway.cache import TtlCache
from services.gateway.recorder import GatewayRecorder
from services.gateway.server import SelectorGateway
from services.mongo.repository import MongoStore
from services.serving.handler import handle_event
from services.serving.service import SelectorService
from tests.serving.conftest import make_service, start_experiment

OPERATOR_LIKE = st.sampled_from(
    ['{"$gt": ""}', "$gt", "$where", "{'$ne': null}", "MAIN", "1001", "", " ", "\x00", "..", "a.b"]
)
VALUES = st.one_of(
    OPERATOR_LIKE,
    st.text(max_size=80),
    st.text(alphabet="0123456789abcXYZ_-.", min_size=1, max_size=70),
    st.text(min_size=5000, max_size=6000),
    st.integers(),
    st.none(),
    st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(st.sampled_from(["$gt", "$ne", "$regex"]), st.text(max_size=5), max_size=2),
)
KEYS = st.one_of(st.sampled_from(["member_id", "area_code"]), st.text(max_size=12))
PAIRS = st.lists(st.tuples(KEYS, VALUES), max_size=8)


def event_from(pairs: list[tuple[str, object]]) -> dict[str, object]:
    multi: dict[str, list[object]] = {}
    for key, value in pairs:
        multi.setdefault(key, []).append(value)
    return {
        "httpMethod": "GET",
        "queryStringParameters": {k: v[-1] for k, v in multi.items()} or None,
        "multiValueQueryStringParameters": multi or None,
    }


@pytest.fixture
def service(store: MongoStore, clock: FixedClock) -> SelectorService:
    start_experiment(store)
    return make_service(store, clock)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(pairs=PAIRS, top_level=st.booleans())
def test_handler_never_fails(service: SelectorService, pairs, top_level: bool) -> None:
    event = dict(pairs) if top_level else event_from(pairs)
    result = handle_event(event, service)
    assert result["statusCode"] in (200, 400, 404)
    body = json.loads(result["body"])
    assert ("model_code" in body) == (result["statusCode"] == 200)


@pytest.fixture
def gateway(service: SelectorService, clock: FixedClock) -> Iterator[SelectorGateway]:
    recorder = GatewayRecorder(None, clock)
    server = SelectorGateway(("127.0.0.1", 0), service, TtlCache(clock, max_entries=100), recorder)
    server.start_background()
    yield server
    server.shutdown()
    server.server_close()


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    pairs=st.lists(st.tuples(KEYS, st.one_of(OPERATOR_LIKE, st.text(max_size=3000))), max_size=6)
)
def test_gateway_always_answers_json(gateway: SelectorGateway, pairs) -> None:
    host, port = gateway.server_address[:2]
    query = urlencode(pairs, encoding="utf-8", errors="surrogatepass")
    conn = http.client.HTTPConnection(host, port, timeout=10)
    try:
        conn.request("GET", f"/select?{query}")
        resp = conn.getresponse()
        body = json.loads(resp.read())
    finally:
        conn.close()
    assert resp.status < 500
    assert resp.getheader("Content-Type") == "application/json"
    assert isinstance(body, dict)


def test_oversized_request_line_is_json(gateway: SelectorGateway) -> None:
    host, port = gateway.server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=10)
    try:
        conn.request("GET", "/select?member_id=" + "9" * 70_000 + "&area_code=MAIN")
        resp = conn.getresponse()
        status, body = resp.status, json.loads(resp.read())
    finally:
        conn.close()
    assert status == 431 and "error" in body
