"""``dynab gateway``: the local API gateway in front of the selector, in the foreground."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
from dataclasses import replace

from pymongo.errors import PyMongoError

from dynab.commands.options import add_embedded_options
from dynab.settings import Settings
from services.clock import SystemClock
from services.exceptions import DynabError
from services.gateway.cache import DEFAULT_MAX_ENTRIES, DEFAULT_TTL_SECONDS, TtlCache, check_ttl
from services.gateway.recorder import GatewayRecorder
from services.gateway.server import HttpLimits, SelectorGateway
from services.hashing import local_member_hash_key
from services.mongo.embedded import EmbeddedMongo
from services.mongo.repository import MongoStore, connect
from services.serving.config_cache import ConfigurationCache
from services.serving.service import SelectorService
from services.serving.settings import ServingSettings, parse_area_defaults


def add_parser(sub: argparse._SubParsersAction) -> None:
    settings = Settings.from_env()
    p = sub.add_parser(
        "gateway",
        help="run the local API gateway (GET /select with a response cache)",
        description="Serve GET /select?member_id=M&area_code=A on 127.0.0.1 as API Gateway "
        "does: answers cached per (member_id, area_code) for the TTL, the selector handler "
        "invoked in-process on a miss, X-Cache: Hit|Miss, and per-minute figures written to "
        "MongoDB for the console. Uses MONGODB_URI, else the embedded server (started if it "
        "is not already running).",
    )
    p.add_argument(
        "--port",
        type=int,
        default=settings.gateway_port,
        help="port to listen on (default: %(default)s, DYNAB_GATEWAY_PORT)",
    )
    p.add_argument(
        "--ttl",
        type=int,
        default=DEFAULT_TTL_SECONDS,
        help="cache TTL in seconds, 1..3600 (default: %(default)s)",
    )
    p.add_argument(
        "--cache-size",
        type=int,
        default=DEFAULT_MAX_ENTRIES,
        help="most cached answers kept (default: %(default)s)",
    )
    p.add_argument(
        "--refresh",
        type=float,
        default=30.0,
        help="seconds the selector reuses an area's configuration (default: 30)",
    )
    p.add_argument(
        "--mongodb-uri",
        default=settings.mongodb_uri,
        help="MongoDB to use (default: MONGODB_URI, else the embedded server)",
    )
    add_embedded_options(p, settings)
    limits = HttpLimits.from_env(os.environ)
    p.add_argument(
        "--idle-timeout",
        type=int,
        default=limits.idle_timeout_seconds,
        help="close a connection idle this many seconds "
        "(default: %(default)s, DYNAB_GATEWAY_IDLE_TIMEOUT_SECONDS)",
    )
    p.add_argument(
        "--max-connections",
        type=int,
        default=limits.max_connections,
        help="open connections accepted at once; more wait to be accepted "
        "(default: %(default)s, DYNAB_GATEWAY_MAX_CONNECTIONS)",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=limits.threads,
        help="worker threads answering requests (default: %(default)s, DYNAB_GATEWAY_THREADS)",
    )
    p.add_argument(
        "--drain-seconds",
        type=int,
        default=limits.drain_seconds,
        help="on stopping, answer requests already taken for up to this many seconds "
        "(default: %(default)s, DYNAB_GATEWAY_DRAIN_SECONDS)",
    )
    p.add_argument(
        "--area-defaults",
        default=os.environ.get("DYNAB_AREA_DEFAULTS"),
        help='fallback models as JSON, e.g. \'{"MAIN": "M-01", "*": "M-00"}\' '
        "(default: DYNAB_AREA_DEFAULTS)",
    )
    p.set_defaults(func=run)


def _listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.3)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _say(message: str) -> None:
    print(f"dynab gateway: {message}", flush=True)


def _allow_descriptors(connections: int) -> None:
    """Raise the open-file limit so ``connections`` sockets fit (many systems start at 1,024)."""
    import resource

    needed = connections + 256  # MongoDB connections, logs, the listening socket
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        if target < needed:
            _say(
                f"the open-file limit ({hard}) is below what {connections} connections need; "
                "lower --max-connections or raise `ulimit -n`"
            )


def _log_waitress() -> None:
    """waitress's warnings (connection limit reached, ...) as ``dynab gateway:`` lines."""
    logger = logging.getLogger("waitress")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("dynab gateway: http: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.WARNING)
        logger.propagate = False


def run(args: argparse.Namespace) -> int:
    check_ttl(args.ttl)
    _log_waitress()
    limits = HttpLimits(
        idle_timeout_seconds=args.idle_timeout,
        max_connections=args.max_connections,
        threads=args.threads,
        drain_seconds=args.drain_seconds,
    )
    serving = replace(
        ServingSettings.from_env(os.environ, member_hash_key=local_member_hash_key(args.data_dir)),
        refresh_seconds=args.refresh,
        area_defaults=parse_area_defaults(args.area_defaults),
    )
    _allow_descriptors(limits.max_connections)
    server: EmbeddedMongo | None = None
    uri = args.mongodb_uri
    if not uri:
        if _listening(args.mongo_port):
            uri = f"mongodb://127.0.0.1:{args.mongo_port}/"
            _say(f"using the embedded MongoDB already running on port {args.mongo_port}")
        else:
            from dynab.commands.mongo import start_embedded

            _say(f"starting the embedded MongoDB server (data in {args.data_dir / 'mongo'})")
            server = start_embedded(args.data_dir, args.mongo_port)
            uri = server.uri
    clock = SystemClock()
    db = connect(
        uri, db_name=os.environ.get("MONGODB_DB") or None, timeout_ms=serving.mongo_timeout_ms
    )
    cache = ConfigurationCache(
        MongoStore(db, clock),
        clock,
        refresh_seconds=serving.refresh_seconds,
        retry_seconds=serving.retry_seconds,
    )
    try:
        db.command("ping")
    except PyMongoError as exc:
        # Not fatal: the selector serves the area defaults and the recorder keeps its figures
        # until MongoDB answers; both ask again every DYNAB_STORE_RETRY_SECONDS / flush. The
        # cache is told, so that not even the first request waits on MongoDB.
        cache.store_failed(f"{type(exc).__name__} at start-up")
        defaults = ", ".join(f"{a}={m}" for a, m in serving.area_defaults.items()) or "none"
        _say(
            "MongoDB does not answer; serving the area defaults "
            f"({defaults}) until it does, asking again every {serving.retry_seconds:g} s"
        )
    recorder = GatewayRecorder(db, clock).start()  # creates its indexes once MongoDB answers
    service = SelectorService(cache, clock, recorder, serving)
    responses: TtlCache = TtlCache(clock, ttl_seconds=args.ttl, max_entries=args.cache_size)
    try:
        gateway = SelectorGateway(("127.0.0.1", args.port), service, responses, recorder, limits)
    except OSError as exc:
        recorder.stop()
        if server is not None:
            server.stop()
        raise DynabError(f"cannot listen on 127.0.0.1:{args.port}: {exc.strerror}") from None
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    _say(
        f"cache TTL {args.ttl} s, at most {args.cache_size} answers; "
        f"configuration refreshed every {serving.refresh_seconds:g} s; "
        f"{limits.threads} threads, at most {limits.max_connections} connections, "
        f"idle ones closed after {limits.idle_timeout_seconds} s"
    )
    _say(f"ready on {gateway.url}?member_id=M&area_code=A  (Ctrl-C stops)")
    try:
        gateway.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        pass
    finally:
        gateway.server_close()
        recorder.stop()
        db.client.close()
        if server is not None:
            server.stop()
        _say("stopped")
    return 0
