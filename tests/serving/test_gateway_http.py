"""The local gateway's HTTP over raw sockets: methods, bodies, malformed lines, idle clients.

Each case writes bytes on a real TCP connection to the gateway and reads what comes back, as a
hostile or broken client would; the embedded MongoDB is behind it.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from services.clock import FixedClock
from services.gateway.cache import TtlCache
from services.gateway.recorder import GatewayRecorder
from services.gateway.server import LINGER_SECONDS, HttpLimits, SelectorGateway
from services.mongo.repository import MongoStore
from tests.serving.conftest import make_service, start_experiment

IDLE_TIMEOUT = 2
GET_MAIN = b"GET /select?member_id=1&area_code=MAIN HTTP/1.1\r\nHost: t\r\n\r\n"


@dataclass
class Gateway:
    server: SelectorGateway
    recorder: GatewayRecorder
    cache: TtlCache

    @property
    def port(self) -> int:
        return self.server.server_address[1]


def _start(store: MongoStore, clock: FixedClock, limits: HttpLimits) -> Gateway:
    recorder = GatewayRecorder(None, clock)
    service = make_service(store, clock)
    service.log = recorder
    cache: TtlCache = TtlCache(clock, max_entries=100)
    server = SelectorGateway(("127.0.0.1", 0), service, cache, recorder, limits)
    server.start_background()
    return Gateway(server, recorder, cache)


@pytest.fixture
def gateway(store: MongoStore, clock: FixedClock) -> Iterator[Gateway]:
    start_experiment(store)
    running = _start(store, clock, HttpLimits(idle_timeout_seconds=IDLE_TIMEOUT, threads=4))
    yield running
    running.server.shutdown()
    running.server.server_close()


def exchange(port: int, data: bytes, wait: float = 1.0) -> tuple[bytes, bool]:
    """Send ``data``; (everything read until the server closes or ``wait`` passes, closed)."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as sock:
        sock.sendall(data)
        out = b""
        try:
            while chunk := sock.recv(65536):
                out += chunk
        except TimeoutError:
            return out, False
        return out, True


def responses(raw: bytes) -> list[tuple[int, dict[str, str], bytes]]:
    """Split ``raw`` into (status, headers, body) by Content-Length."""
    out = []
    while raw:
        head, _, rest = raw.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:])}
        n = int(headers.get("content-length", "0"))
        out.append((int(lines[0].split()[1]), headers, rest[:n]))
        raw = rest[n:]
    return out


def closed_by_peer(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        return sock.recv(1) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


@pytest.mark.parametrize("method", ["TRACE", "CONNECT", "POST", "PUT", "DELETE", "OPTIONS", "FOO"])
def test_every_method_but_get_and_head_is_405_json_with_allow(gateway: Gateway, method: str):
    target = b"example.com:443" if method == "CONNECT" else b"/select"
    raw, _ = exchange(
        gateway.port, method.encode() + b" " + target + b" HTTP/1.1\r\nHost: t\r\n\r\n"
    )
    ((status, headers, body),) = responses(raw)
    assert status == 405
    assert headers["allow"] == "GET, HEAD"
    assert headers["content-type"] == "application/json"
    assert method in json.loads(body)["error"]


def test_head_answers_like_get_without_a_body(gateway: Gateway) -> None:
    raw, _ = exchange(gateway.port, GET_MAIN.replace(b"GET", b"HEAD"))
    ((status, headers, body),) = responses(raw)
    assert (status, headers["x-cache"], body) == (200, "Miss", b"")
    assert int(headers["content-length"]) > 0


def test_a_body_is_never_run_as_a_request(gateway: Gateway) -> None:
    # GIVEN a POST whose body is itself a complete GET request, by length and chunked
    smuggled = GET_MAIN
    by_length = (
        b"POST /select HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % len(smuggled) + smuggled
    )
    chunked = (
        b"POST /select HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"%x\r\n" % len(smuggled)
        + smuggled
        + b"\r\n0\r\n\r\n"
    )
    for request in (by_length, chunked):
        # WHEN it is sent on one connection
        raw, _ = exchange(gateway.port, request)
        # THEN exactly one answer comes back, the 405, and the selector never ran
        assert [status for status, _, _ in responses(raw)] == [405]
    assert len(gateway.cache) == 0
    assert gateway.recorder.pending() == (0, 0)


def test_a_body_over_the_limit_is_413_and_the_connection_closed(gateway: Gateway) -> None:
    raw, closed = exchange(
        gateway.port, b"POST /select HTTP/1.1\r\nHost: t\r\nContent-Length: 1000000\r\n\r\n"
    )
    ((status, headers, body),) = responses(raw)
    assert status == 413 and closed
    assert headers["content-type"] == "application/json" and "error" in json.loads(body)


def test_a_request_giving_its_body_end_twice_is_400_and_nothing_after_it_runs(
    gateway: Gateway,
) -> None:
    # GIVEN a POST with both a length and chunked encoding, a GET right behind it: by the
    # length (as a proxy in front may read it) the body is "0\r\n\r\n" and the GET a request
    request = (
        b"POST /select HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + GET_MAIN
    )
    # WHEN it is sent on one connection
    raw, closed = exchange(gateway.port, request)
    # THEN the one answer is a 400 saying why, the connection is closed, the GET never ran
    ((status, headers, body),) = responses(raw)
    assert (status, closed) == (400, True)
    assert "Content-Length and Transfer-Encoding" in json.loads(body)["error"]
    assert headers["connection"] == "close"
    assert len(gateway.cache) == 0 and gateway.recorder.pending() == (0, 0)


def test_a_refused_request_still_arriving_gets_its_answer_not_a_reset(gateway: Gateway) -> None:
    # GIVEN requests refused before they are read whole: headers of 2 MB (over the 64 KiB
    # limit) and a body of 2 MB (over the 8 KiB one), sent whole before reading
    for request, expected in (
        (b"GET /select HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 2_000_000 + b"\r\n\r\n", 431),
        (
            b"POST /select HTTP/1.1\r\nHost: t\r\nContent-Length: 2000000\r\n\r\n"
            + b"b" * 2_000_000,
            413,
        ),
    ):
        # WHEN the client writes it all, then reads
        raw, _ = exchange(gateway.port, request, wait=10)
        # THEN it reads the answer that says why, and the end of the connection: closing while
        # the rest arrived would have reset the connection and lost the answer
        ((status, _, body),) = responses(raw)
        assert status == expected and "error" in json.loads(body)
    deadline = time.monotonic() + 5
    while gateway.server.open_connections and time.monotonic() < deadline:
        time.sleep(0.05)
    assert gateway.server.open_connections == 0


def test_a_closing_connection_lingers_only_for_a_bounded_time(gateway: Gateway) -> None:
    # GIVEN a refused request whose client keeps the connection open and keeps sending
    sock = socket.create_connection(("127.0.0.1", gateway.port), timeout=1)
    try:
        sock.sendall(b"GET /select HTTP/1.1\r\nHost: t\r\nContent-Length: x\r\n\r\n")
        started = time.monotonic()
        # WHEN it trickles bytes for longer than the gateway lingers
        closed_at = None
        while time.monotonic() - started < LINGER_SECONDS + 4:
            try:
                sock.sendall(b"z")
            except OSError:
                closed_at = time.monotonic() - started
                break
            if gateway.server.open_connections == 0:
                closed_at = time.monotonic() - started
                break
            time.sleep(0.1)
        # THEN the gateway closes it soon after the lingering time, not when the client stops
        assert closed_at is not None and closed_at < LINGER_SECONDS + 2
    finally:
        sock.close()


def test_malformed_requests_are_400_json_and_closed(gateway: Gateway) -> None:
    for line in (
        b"GET /select?member_id=1&area_code=MAIN\r\n\r\n",  # HTTP/0.9: no version
        b"\x00\x01\x02 nonsense\r\n\r\n",
        b"get /select HTTP/1.1\r\nHost: t\r\n\r\n",
        b"GET /select HTTP/1.1\r\nHost: t\r\nContent-Length: x\r\n\r\n",
    ):
        raw, closed = exchange(gateway.port, line)
        ((status, headers, body),) = responses(raw)
        assert (status, closed) == (400, True), (line, raw)
        assert headers["content-type"] == "application/json" and "error" in json.loads(body)
    assert len(gateway.cache) == 0


def test_an_unfinished_http09_line_is_closed_after_the_idle_timeout(gateway: Gateway) -> None:
    # An HTTP/0.9 request is one line; HTTP/1.x waits for the blank line that never comes.
    raw, closed = exchange(gateway.port, b"GET /select\r\n", wait=IDLE_TIMEOUT + 3)
    assert closed and b"200" not in raw


def test_idle_connections_hold_no_thread_and_are_closed(gateway: Gateway) -> None:
    threads_before = threading.active_count()
    # GIVEN 300 connections that send nothing, and 20 that stop half-way through a request
    idle = [socket.create_connection(("127.0.0.1", gateway.port)) for _ in range(300)]
    for _ in range(20):
        half = socket.create_connection(("127.0.0.1", gateway.port))
        half.sendall(b"GET /select?member_id=1&area_code=MAIN HTTP/1.1\r\nHo")
        idle.append(half)
    try:
        # THEN they are all held by the gateway without a thread each ...
        deadline = time.monotonic() + 10
        while gateway.server.open_connections < 320 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert gateway.server.open_connections >= 320
        assert threading.active_count() <= threads_before + 2
        # ... normal requests are answered meanwhile ...
        for _ in range(5):
            raw, _ = exchange(gateway.port, GET_MAIN, wait=5)
            assert responses(raw)[0][0] == 200
        # ... and after the idle timeout every one of them is closed by the gateway.
        deadline = time.monotonic() + IDLE_TIMEOUT + 10
        while time.monotonic() < deadline and not all(closed_by_peer(s) for s in idle):
            time.sleep(0.2)
        assert sum(closed_by_peer(s) for s in idle) == len(idle)
        assert gateway.server.open_connections == 0
    finally:
        for sock in idle:
            sock.close()


def test_connections_beyond_the_cap_wait_until_others_close(
    store: MongoStore, clock: FixedClock
) -> None:
    start_experiment(store)
    running = _start(store, clock, HttpLimits(idle_timeout_seconds=1, max_connections=20))
    try:
        socks = [socket.create_connection(("127.0.0.1", running.port)) for _ in range(60)]
        seen = 0
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not all(closed_by_peer(s) for s in socks):
            seen = max(seen, running.server.open_connections)
            time.sleep(0.05)
        # Never more than the cap open at once, and all were served (closed) in turn.
        assert 0 < seen <= 20
        assert all(closed_by_peer(s) for s in socks)
        for s in socks:
            s.close()
    finally:
        running.server.shutdown()
        running.server.server_close()


def test_http_limits_validate_themselves() -> None:
    from services.exceptions import ValidationError

    for bad in ({"idle_timeout_seconds": 0}, {"max_connections": -1}, {"threads": 1.5}):
        with pytest.raises(ValidationError):
            HttpLimits(**bad)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="DYNAB_GATEWAY_THREADS"):
        HttpLimits.from_env({"DYNAB_GATEWAY_THREADS": "many"})
    assert HttpLimits.from_env({"DYNAB_GATEWAY_MAX_CONNECTIONS": "50"}).max_connections == 50
    assert HttpLimits.from_env({"DYNAB_GATEWAY_DRAIN_SECONDS": "2"}).drain_seconds == 2
    with pytest.raises(ValidationError):
        HttpLimits(drain_seconds=0)


class _HeldAnswers:
    """Holds the gateway's answers in flight until released (the real answer runs after)."""

    def __init__(self, server: SelectorGateway) -> None:
        self._answer = server.answer
        self.taken = threading.Event()
        self.release = threading.Event()
        self.answered = threading.Event()
        self.worker: threading.Thread | None = None
        server.answer = self  # type: ignore[method-assign]

    def __call__(self, raw_query: str) -> tuple[int, bytes, bool]:
        self.worker = threading.current_thread()
        self.taken.set()
        self.release.wait(timeout=30)
        try:
            return self._answer(raw_query)
        finally:
            self.answered.set()


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except (ConnectionRefusedError, ConnectionResetError):
        # Reset: the connect reached the backlog as the listening socket closed; never accepted.
        return True
    return False


def _errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


def _one_request_held(
    store: MongoStore, clock: FixedClock, drain_seconds: int
) -> tuple[Gateway, _HeldAnswers, socket.socket]:
    """A gateway whose one request (sent on the returned socket) is in flight, held."""
    start_experiment(store)
    running = _start(store, clock, HttpLimits(threads=2, drain_seconds=drain_seconds))
    held = _HeldAnswers(running.server)
    client = socket.create_connection(("127.0.0.1", running.port), timeout=10)
    client.sendall(GET_MAIN)
    assert held.taken.wait(timeout=5)
    return running, held, client


def test_stopping_answers_the_requests_already_taken_and_refuses_new_ones(
    store: MongoStore, clock: FixedClock, caplog: pytest.LogCaptureFixture
) -> None:
    running, held, client = _one_request_held(store, clock, drain_seconds=10)
    idle = socket.create_connection(("127.0.0.1", running.port))
    stopper = threading.Thread(target=running.server.shutdown)
    stopper.start()
    deadline = time.monotonic() + 5
    while not _refused(running.port) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _refused(running.port)  # no new connection once stopping began
    assert stopper.is_alive()  # still draining the request in flight
    held.release.set()
    raw = b""
    while chunk := client.recv(65536):  # the answer, then the close
        raw += chunk
    stopper.join(timeout=15)
    assert not stopper.is_alive()
    [(status, _, body)] = responses(raw)
    assert status == 200, body
    assert json.loads(body)["experiment_id"] == "EXP-01"
    assert closed_by_peer(idle)  # idle keep-alives are closed, not left open
    idle.close()
    client.close()
    assert _errors(caplog) == []


def test_a_request_that_outlasts_the_drain_never_writes_to_a_closed_descriptor(
    store: MongoStore, clock: FixedClock, caplog: pytest.LogCaptureFixture
) -> None:
    running, held, client = _one_request_held(store, clock, drain_seconds=1)
    started = time.monotonic()
    running.server.shutdown()
    assert time.monotonic() - started < 8  # the drain's second, the workers' second, slack
    assert client.recv(65536) == b""  # closed unanswered: the drain was over
    # The descriptors the gateway closed are free again; take them, so that a write to the
    # closed wake-up pipe would land in one of these pipes (or fail on a closed one).
    pipes = [os.pipe() for _ in range(8)]
    try:
        held.release.set()
        assert held.answered.wait(timeout=10)
        assert held.worker is not None
        held.worker.join(timeout=10)  # the worker ran its task to the end
        assert not held.worker.is_alive()
        # A worker that found its connection open just before the close pulls the wake-up
        # pipe after it (waitress's channel checks, then pulls): do what it does.
        running.server._server.pull_trigger()
        for read, _ in pipes:
            os.set_blocking(read, False)
            with pytest.raises(BlockingIOError):
                os.read(read, 1)
    finally:
        for read, write in pipes:
            os.close(read)
            os.close(write)
    client.close()
    assert _errors(caplog) == []
