"""``dynab run``: the embedded stack and the console (what ``make run`` calls)."""

from __future__ import annotations

import argparse
import signal
import subprocess
import time
from pathlib import Path

from dynab.commands.options import add_embedded_options, add_history_option
from dynab.credentials import demo_users_note, ensure_demo_credentials
from dynab.processes import start_console, stop_process, wait_http_ok
from dynab.settings import Settings
from services.exceptions import DynabError
from services.mongo.repository import MongoStore, connect


def add_parser(sub: argparse._SubParsersAction) -> None:
    settings = Settings.from_env()
    p = sub.add_parser(
        "run",
        help="start the embedded stack and the console",
        description="Start the embedded MongoDB server (unless MONGODB_URI is set), create the "
        "demo areas and experiments (each without data gets days of synthetic hourly history, "
        "as with dynab demo-data), and serve the console until Ctrl-C.",
    )
    add_embedded_options(p, settings)
    add_history_option(p)
    p.add_argument(
        "--console-port",
        type=int,
        default=settings.console_port,
        help="console port (default: %(default)s, DYNAB_CONSOLE_PORT)",
    )
    p.add_argument(
        "--gateway-port",
        type=int,
        default=settings.gateway_port,
        help="local API gateway port (default: %(default)s, DYNAB_GATEWAY_PORT)",
    )
    p.add_argument(
        "--speed",
        type=float,
        default=settings.clock_speed,
        help="demo clock: simulated seconds per real second (default: %(default)s, "
        "DYNAB_CLOCK_SPEED; 60 = one simulated hour per minute)",
    )
    p.add_argument(
        "--requests-per-hour",
        type=int,
        default=3000,
        help="demo page views per simulated hour over all areas (default: %(default)s)",
    )
    p.add_argument("--no-demo", action="store_true", help="no demo data and no demo traffic")
    p.add_argument(
        "--no-job", action="store_true", help="do not run the parameter job (no Java needed)"
    )
    p.set_defaults(func=run)


def _step(message: str) -> None:
    print(f"dynab run: {message}", flush=True)


def run(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    if settings.embedded:
        return _run_embedded(args, settings)
    return _run_console_only(args, settings)


def _run_embedded(args: argparse.Namespace, settings: Settings) -> int:
    """The whole embedded stack: MongoDB, gateway, demo traffic, parameter job, console."""
    from dynab.stack import Stack, StackOptions
    from spark.session import JAVA_MISSING, find_java

    if not args.no_job and find_java() is None:
        raise DynabError(JAVA_MISSING + " (or start without the parameter job: --no-job)")
    secrets_files = [p for p in (Path(".streamlit") / "secrets.toml",) if p.exists()]
    demo_secrets, _ = ensure_demo_credentials(args.data_dir / "console")
    secrets_files.append(demo_secrets)
    options = StackOptions(
        data_dir=args.data_dir,
        mongo_port=args.mongo_port,
        gateway_port=args.gateway_port,
        console_port=args.console_port,
        speed=args.speed,
        requests_per_hour=args.requests_per_hour,
        job=not args.no_job,
        demo=not args.no_demo,
        traffic=not args.no_demo,
        history_days=args.history_days,
        secrets_files=tuple(secrets_files),
    )
    stack = Stack(options, say=_step)
    try:
        stack.start()
        _step(demo_users_note(demo_secrets.parent))
        _step(f"ready: open http://localhost:{stack.console_port}  (Ctrl-C stops everything)")
        while stack.healthy():
            time.sleep(0.5)
        _step("stopping: " + "; ".join(stack.errors or ["a component exited"]))
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        stack.stop()
        _step("stopped")


def _run_console_only(args: argparse.Namespace, settings: Settings) -> int:
    """With MONGODB_URI: the console on that database; no demo data, no demo traffic."""
    uri = settings.mongodb_uri or ""
    console: subprocess.Popen[bytes] | None = None
    try:
        _step("using the MongoDB at MONGODB_URI (no embedded services, no demo traffic)")
        store = MongoStore(connect(uri))
        store.ensure_indexes()
        secrets_files = [p for p in (Path(".streamlit") / "secrets.toml",) if p.exists()]
        _step(f"starting the console on http://localhost:{args.console_port}")
        console = start_console(uri, args.console_port, args.data_dir / "logs", secrets_files)
        wait_http_ok(f"http://127.0.0.1:{args.console_port}/_stcore/health", console)
        _step(f"ready: open http://localhost:{args.console_port}  (Ctrl-C stops)")
        while console.poll() is None:
            time.sleep(0.5)
        _step("the console exited; stopping")
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        stop_process(console)
        _step("stopped")
