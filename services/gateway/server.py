"""The local API gateway: ``GET /select`` on 127.0.0.1 with API Gateway's cache in front.

On a cache miss it builds the REST proxy event API Gateway would send and calls the very handler
the Lambda runs (:func:`services.serving.handler.handle_event`) in-process. Only ``200`` answers
are cached, keyed by every value given for ``member_id`` and ``area_code``. Every answer --
including the server's own errors (bad request line, unknown path, wrong method) -- is JSON.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from services.gateway.cache import TtlCache
from services.gateway.recorder import GatewayRecorder
from services.serving.handler import handle_event
from services.serving.service import SelectorService

PATH = "/select"
CACHE_KEY_PARAMETERS = ("member_id", "area_code")
#: More query fields than this is not a selector request; refuse before parsing them all.
MAX_QUERY_FIELDS = 50

CachedAnswer = tuple[int, bytes]


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


class SelectorGateway(ThreadingHTTPServer):
    """The HTTP server; holds the service, the cache and the recorder its handlers use."""

    daemon_threads = True
    # A burst of connections from a load generator must not be refused by a short backlog.
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        service: SelectorService,
        cache: TtlCache[CachedAnswer],
        recorder: GatewayRecorder,
    ) -> None:
        self.service = service
        self.cache = cache
        self.recorder = recorder
        super().__init__(address, _Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}{PATH}"

    def start_background(self) -> threading.Thread:
        """Serve on a daemon thread (tests, benchmarks); stop with ``shutdown()``."""
        thread = threading.Thread(target=self.serve_forever, name="dynab-gateway", daemon=True)
        thread.start()
        return thread

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


class _Handler(BaseHTTPRequestHandler):
    server: SelectorGateway
    server_version = "dynab-gateway"
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle on, a keep-alive client waits ~40 ms
    # (delayed ACK) for every answer.
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        started = time.perf_counter()
        parts = urlsplit(self.path)
        if parts.path != PATH:
            self._send(404, _json({"error": f"no route {parts.path!r}; use GET {PATH}"}), None)
            return
        status, body, hit = self.server.answer(parts.query)
        # Counted before the answer is written, so a shutdown right after a response never
        # loses it; the latency is therefore the gateway's time to answer, not the socket write.
        self.server.recorder.record_request(status, hit, (time.perf_counter() - started) * 1e3)
        self._send(status, body, "Hit" if hit else "Miss")

    def _method_not_allowed(self) -> None:
        self._send(405, _json({"error": f"method {self.command} not allowed; use GET"}), None)

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _method_not_allowed

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # http.server's own errors (malformed or oversized request line...) are HTML by default.
        self.close_connection = True
        self._send(code, _json({"error": message or "bad request"}), None)

    def _send(self, status: int, body: bytes, x_cache: str | None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if x_cache is not None:
            self.send_header("X-Cache", x_cache)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return  # per-request lines would swamp the terminal; the recorder keeps the figures


def _json(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()
