"""The local API gateway: ``GET /select`` on 127.0.0.1 with API Gateway's cache in front.

On a cache miss it builds the REST proxy event API Gateway would send and calls the very handler
the Lambda runs (:func:`services.serving.handler.handle_event`) in-process. Only ``200`` answers
are cached, keyed by every value given for ``member_id`` and ``area_code``. Every answer --
including the server's own errors (malformed request, body too large, wrong method) -- is JSON.

HTTP is spoken by waitress (a pure-Python WSGI server from the Pylons project): one thread
multiplexes every connection with ``poll``, a fixed pool of worker threads runs requests, and it
reads bodies by ``Content-Length`` or chunked encoding before the next request on the connection
(so a body is never taken for a request), closes malformed requests with ``400``, closes
connections idle for :attr:`HttpLimits.idle_timeout_seconds` and stops accepting beyond
:attr:`HttpLimits.max_connections` open ones. Idle keep-alive connections hold no thread.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from waitress import wasyncore
from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.server import TcpWSGIServer
from waitress.task import ErrorTask, ThreadedTaskDispatcher, WSGITask

from services.exceptions import ValidationError
from services.gateway.cache import TtlCache
from services.gateway.recorder import GatewayRecorder
from services.serving.handler import handle_event
from services.serving.service import SelectorService

PATH = "/select"
CACHE_KEY_PARAMETERS = ("member_id", "area_code")
#: More query fields than this is not a selector request; refuse before parsing them all.
MAX_QUERY_FIELDS = 50
ALLOWED_METHODS = ("GET", "HEAD")
_REQUEST_VERSION = "dynab.request_http_version"

CachedAnswer = tuple[int, bytes]
StartResponse = Callable[[str, list[tuple[str, str]]], Any]

# waitress warns on every request queued while all workers are busy: one line per request
# under load. The gateway's own figures show load; keep waitress's other warnings.
logging.getLogger("waitress.queue").setLevel(logging.ERROR)

_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


@dataclass(frozen=True)
class HttpLimits:
    """How much of the machine HTTP clients may hold.

    Attributes:
        idle_timeout_seconds: A connection with no complete request for this long is closed
            (checked every second), whether it is an idle keep-alive or a request never finished.
        max_connections: Open connections beyond this are not accepted until some close (they
            wait in the listen backlog).
        threads: Worker threads running requests; connections themselves hold none.
        max_body_bytes: A request body over this is answered ``413`` and the connection closed.
        max_header_bytes: A request line plus headers over this is answered ``431``.
    """

    idle_timeout_seconds: int = 10
    max_connections: int = 1000
    threads: int = 8
    max_body_bytes: int = 8192
    max_header_bytes: int = 65536

    def __post_init__(self) -> None:
        for name in (
            "idle_timeout_seconds",
            "max_connections",
            "threads",
            "max_body_bytes",
            "max_header_bytes",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValidationError(name, f"must be a positive whole number, got {value!r}")

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> HttpLimits:
        """From ``DYNAB_GATEWAY_IDLE_TIMEOUT_SECONDS``, ``..._MAX_CONNECTIONS``, ``..._THREADS``."""
        values: dict[str, int] = {}
        for field, var in (
            ("idle_timeout_seconds", "DYNAB_GATEWAY_IDLE_TIMEOUT_SECONDS"),
            ("max_connections", "DYNAB_GATEWAY_MAX_CONNECTIONS"),
            ("threads", "DYNAB_GATEWAY_THREADS"),
        ):
            raw = env.get(var)
            if raw is None or raw == "":
                continue
            try:
                values[field] = int(raw)
            except ValueError:
                raise ValidationError(var, f"must be a whole number, got {raw!r}") from None
            if values[field] < 1:
                raise ValidationError(var, f"must be positive, got {raw!r}")
        return cls(**values)


def proxy_event(query: dict[str, list[str]], request_id: str) -> dict[str, Any]:
    """The API Gateway REST proxy event for ``GET /select`` with ``query``."""
    return {
        "resource": PATH,
        "path": PATH,
        "httpMethod": "GET",
        "queryStringParameters": {k: v[-1] for k, v in query.items()} or None,
        "multiValueQueryStringParameters": query or None,
        "requestContext": {"requestId": request_id, "stage": "local", "httpMethod": "GET"},
    }


class _JsonErrorTask(ErrorTask):
    """waitress's own error answers (400, 413, 431, ...) as JSON, like every other answer."""

    def execute(self) -> None:
        error = self.request.error
        body = _json({"error": f"{error.reason.lower()}: {error.body}"})
        self.status = f"{error.code} {error.reason}"
        self.response_headers.append(("Content-Type", "application/json"))
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


class _Task(WSGITask):
    """waitress's WSGI task, telling the application the HTTP version the client sent.

    waitress answers a request line without a version (HTTP/0.9) as HTTP/1.0 and says
    ``SERVER_PROTOCOL = HTTP/1.0``; the gateway refuses such a line instead of running it.
    """

    def get_environment(self) -> dict[str, Any]:
        environ: dict[str, Any] = super().get_environment()
        environ[_REQUEST_VERSION] = self.request.version
        return environ


class _Channel(HTTPChannel):
    task_class = _Task
    error_task_class = _JsonErrorTask


class _Server(TcpWSGIServer):
    channel_class = _Channel


class SelectorGateway:
    """The HTTP server; holds the service, the cache and the recorder its requests use."""

    def __init__(
        self,
        address: tuple[str, int],
        service: SelectorService,
        cache: TtlCache[CachedAnswer],
        recorder: GatewayRecorder,
        limits: HttpLimits | None = None,
    ) -> None:
        self.service = service
        self.cache = cache
        self.recorder = recorder
        self.limits = limits or HttpLimits()
        host, port = address
        adjustments = Adjustments(
            host=host,
            port=port,
            ident="dynab-gateway",
            threads=self.limits.threads,
            # The listening socket and waitress's wake-up pipe count as connections too.
            connection_limit=self.limits.max_connections + 2,
            channel_timeout=self.limits.idle_timeout_seconds,
            cleanup_interval=1,
            max_request_body_size=self.limits.max_body_bytes,
            max_request_header_size=self.limits.max_header_bytes,
            asyncore_use_poll=True,  # select() stops at 1,024 descriptors
            clear_untrusted_proxy_headers=False,
            expose_tracebacks=False,
            backlog=1024,
        )
        self._map: dict[int, Any] = {}
        self._dispatcher = ThreadedTaskDispatcher()
        self._dispatcher.set_thread_count(self.limits.threads)
        try:
            self._server = _Server(
                self._wsgi,
                map=self._map,
                dispatcher=self._dispatcher,
                adj=adjustments,
                sockinfo=adjustments.listen[0],
            )
        except BaseException:
            self._dispatcher.shutdown(timeout=1)
            wasyncore.close_all(self._map)
            raise
        self.server_address: tuple[str, int] = (
            str(self._server.effective_host),
            int(self._server.effective_port),
        )
        self._stopping = threading.Event()
        self._stopped = threading.Event()
        self._serving = False
        self._closed = False

    @property
    def url(self) -> str:
        host, port = self.server_address
        return f"http://{host}:{port}{PATH}"

    @property
    def open_connections(self) -> int:
        return len(self._server.active_channels)

    # --- running and stopping (the socketserver-style API the callers use) ---------------

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        """Serve until :meth:`shutdown` (from another thread) or Ctrl-C."""
        self._serving = True
        try:
            while not self._stopping.is_set():
                wasyncore.loop(timeout=poll_interval, map=self._map, use_poll=True, count=1)
        finally:
            self._close()
            self._stopped.set()

    def start_background(self) -> threading.Thread:
        """Serve on a daemon thread (tests, benchmarks); stop with ``shutdown()``."""
        thread = threading.Thread(target=self.serve_forever, name="dynab-gateway", daemon=True)
        thread.start()
        return thread

    def shutdown(self) -> None:
        """Stop :meth:`serve_forever` and wait until it has closed every connection."""
        self._stopping.set()
        if self._serving and not self._stopped.is_set():
            # The loop may see the stop flag and close its trigger between the check and the
            # pull: it is stopping already.
            with contextlib.suppress(OSError):
                self._server.pull_trigger()
            self._stopped.wait(timeout=15)

    def server_close(self) -> None:
        """Close the listening socket and the workers (if :meth:`serve_forever` did not)."""
        if not self._serving:
            self._close()

    def _close(self) -> None:
        if self._closed:
            return
        self._closed = True
        wasyncore.close_all(self._map)
        self._dispatcher.shutdown(timeout=5)

    # --- answering ----------------------------------------------------------------------------

    def answer(self, raw_query: str) -> tuple[int, bytes, bool]:
        """(status, JSON body, cache hit) for a ``GET /select`` with ``raw_query``."""
        try:
            query = parse_qs(
                raw_query,
                keep_blank_values=True,
                max_num_fields=MAX_QUERY_FIELDS,
                errors="replace",
            )
        except ValueError:
            return 400, _json({"error": "query string has too many fields"}), False
        key = tuple(tuple(query.get(name, ())) for name in CACHE_KEY_PARAMETERS)
        cached = self.cache.get(key)
        if cached is not None:
            return cached[0], cached[1], True
        result = handle_event(proxy_event(query, uuid.uuid4().hex), self.service)
        status, body = int(result["statusCode"]), result["body"].encode()
        if status == 200:
            self.cache.put(key, (status, body))
        return status, body, False

    def _wsgi(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        started = time.perf_counter()
        method = environ["REQUEST_METHOD"]
        headers: list[tuple[str, str]] = []
        try:
            if environ.get(_REQUEST_VERSION) not in ("1.0", "1.1"):
                status = 400
                body = _json({"error": "unsupported HTTP version; send HTTP/1.0 or HTTP/1.1"})
            elif method not in ALLOWED_METHODS:
                status = 405
                body = _json({"error": f"method {method} not allowed; use GET"})
                headers.append(("Allow", ", ".join(ALLOWED_METHODS)))
            elif environ.get("PATH_INFO") != PATH:
                status = 404
                body = _json({"error": f"no route {environ.get('PATH_INFO')!r}; use GET {PATH}"})
            else:
                status, body, hit = self.answer(environ.get("QUERY_STRING", ""))
                # Counted before the answer is written, so a shutdown right after a response
                # never loses it; the latency is the gateway's time to answer, not the write.
                latency_ms = (time.perf_counter() - started) * 1e3
                self.recorder.record_request(status, hit, latency_ms)
                headers.append(("X-Cache", "Hit" if hit else "Miss"))
        except Exception:  # never a stack trace to the client; the handler logs its own
            status, body = 500, _json({"error": "internal error"})
        headers[:0] = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        start_response(f"{status} {_REASONS.get(status, 'Error')}", headers)
        return [] if method == "HEAD" else [body]


def _json(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()
