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

Stopping (``shutdown()``, Ctrl-C or SIGTERM) drains: the listening socket closes first, requests
already taken are answered and their answers written for up to
:attr:`HttpLimits.drain_seconds`, then every connection closes. A worker that outlasts the drain
finds the wake-up pipe closed and its answer is dropped, never written to a reused descriptor.

A connection the gateway ends (an error answer, ``Connection: close``) is closed *lingering*
(RFC 9112 section 9.6): the answer is written, the sending side shut, and what the client still
sends is read and dropped until it closes too, for at most :data:`LINGER_SECONDS`. Closing at once
while a rejected request (an oversized header, a body not read) is still arriving would make the
kernel reset the connection, and the client could lose the answer that says why. A request
with both ``Content-Length`` and ``Transfer-Encoding`` is refused (``400``) and the connection
closed: the two disagree on where the body ends, the pattern of request smuggling.
"""

from __future__ import annotations

import json
import logging
import socket
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
from waitress.parser import HTTPRequestParser, ParsingError
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
#: How long a connection the gateway ends keeps reading (and dropping) what the client still
#: sends, after the answer, before it closes.
LINGER_SECONDS = 2.0

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
        drain_seconds: On stopping, how long requests already taken have to be answered and
            written before every connection is closed.
    """

    idle_timeout_seconds: int = 10
    max_connections: int = 1000
    threads: int = 8
    max_body_bytes: int = 8192
    max_header_bytes: int = 65536
    drain_seconds: int = 5

    def __post_init__(self) -> None:
        for name in (
            "idle_timeout_seconds",
            "max_connections",
            "threads",
            "max_body_bytes",
            "max_header_bytes",
            "drain_seconds",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValidationError(name, f"must be a positive whole number, got {value!r}")

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> HttpLimits:
        """From ``DYNAB_GATEWAY_IDLE_TIMEOUT_SECONDS``, ``..._MAX_CONNECTIONS``, ``..._THREADS``,
        ``..._DRAIN_SECONDS``."""
        values: dict[str, int] = {}
        for field, var in (
            ("idle_timeout_seconds", "DYNAB_GATEWAY_IDLE_TIMEOUT_SECONDS"),
            ("max_connections", "DYNAB_GATEWAY_MAX_CONNECTIONS"),
            ("threads", "DYNAB_GATEWAY_THREADS"),
            ("drain_seconds", "DYNAB_GATEWAY_DRAIN_SECONDS"),
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


class _Parser(HTTPRequestParser):
    """waitress's request parser, refusing a request that gives its body's end twice."""

    def parse_header(self, header_plus: bytes) -> None:
        super().parse_header(header_plus)
        # waitress reads such a body as chunked and ignores the length; a proxy in front may
        # have read it by the length: the rest would be a request neither of them saw.
        if self.chunked and "CONTENT_LENGTH" in self.headers:
            raise ParsingError("Content-Length and Transfer-Encoding are both given")


class _Channel(HTTPChannel):
    """waitress's connection, closed lingering when the gateway ends it."""

    task_class = _Task
    error_task_class = _JsonErrorTask
    parser_class = _Parser
    #: While lingering: the time (``time.monotonic``) by which the connection closes anyway.
    _linger_until = 0.0
    #: True while waitress writes the last answer of a connection it is to close after it (an
    #: error, ``Connection: close``): a close asked for then lingers. Other closes (an idle
    #: timeout, the client gone, stopping) are at once: no request is arriving on them.
    _ending = False

    def handle_write(self) -> None:
        if self._linger_until:  # the lingering is over, or the connection is to close now
            super().handle_close()
            return
        self._ending = self.close_when_flushed
        try:
            super().handle_write()
        finally:
            self._ending = False

    def handle_close(self) -> None:
        if self._ending and self.connected and not self.total_outbufs_len:
            try:
                self.socket.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            else:
                self._linger_until = time.monotonic() + LINGER_SECONDS
                self.will_close = self.close_when_flushed = False
                return
        super().handle_close()

    def readable(self) -> bool:
        return True if self._linger_until else bool(super().readable())

    def writable(self) -> bool:
        if self._linger_until:  # nothing to write: "writable" only to be closed
            return self.will_close or time.monotonic() >= self._linger_until
        return bool(super().writable())

    def handle_read(self) -> None:
        if not self._linger_until:
            super().handle_read()
            return
        try:
            data = self.socket.recv(self.adj.recv_bytes)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data or time.monotonic() >= self._linger_until:
            super().handle_close()


class _Server(TcpWSGIServer):
    """waitress's server whose wake-up pipe can be closed while workers still run.

    A worker ends every request by writing to the pipe; after the pipe is closed its descriptor
    may already belong to another file, so pulls and the close take one lock and a pull after
    the close does nothing.
    """

    channel_class = _Channel

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._trigger_lock = threading.Lock()
        self._trigger_closed = False
        super().__init__(*args, **kwargs)

    def pull_trigger(self) -> None:
        with self._trigger_lock:
            if not self._trigger_closed:
                self.trigger.pull_trigger()

    def close_trigger(self) -> None:
        with self._trigger_lock:
            self._trigger_closed = True
            self.trigger.close()


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
        """Serve until :meth:`shutdown` (from another thread) or Ctrl-C, then drain."""
        self._serving = True
        try:
            while not self._stopping.is_set():
                wasyncore.loop(timeout=poll_interval, map=self._map, use_poll=True, count=1)
        finally:
            try:
                self._drain()
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
            self._server.pull_trigger()  # a no-op once the loop has closed the pipe
            self._stopped.wait(timeout=self.limits.drain_seconds + 10)

    def server_close(self) -> None:
        """Close the listening socket and the workers (if :meth:`serve_forever` did not)."""
        if not self._serving:
            self._close()

    def _busy(self) -> bool:
        """Whether a request is queued, running, or has an answer not yet written."""
        if self._dispatcher.active_count or self._dispatcher.queue:
            return True
        return any(
            channel.requests or channel.total_outbufs_len
            for channel in list(self._server.active_channels.values())
        )

    def _drain(self) -> None:
        """Stop accepting, then answer the requests already taken (for ``drain_seconds``)."""
        # The listening socket only (the server's own close() closes the pipe too).
        wasyncore.dispatcher.close(self._server)
        deadline = time.monotonic() + self.limits.drain_seconds
        while self._busy() and time.monotonic() < deadline:
            wasyncore.loop(timeout=0.05, map=self._map, use_poll=True, count=1)

    def _close(self) -> None:
        if self._closed:
            return
        self._closed = True
        # Workers first (waitress's order): a worker still running after this finds the pipe
        # closed (see _Server) and its connection closed (its answer is dropped).
        self._dispatcher.shutdown(timeout=1)
        self._server.close_trigger()
        wasyncore.close_all(self._map)

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
