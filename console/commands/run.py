"""``dynab run``: the embedded stack and the console (what ``make run`` calls)."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import urllib.request
from datetime import timedelta
from pathlib import Path

from console.commands.mongo import start_embedded
from console.credentials import ensure_demo_credentials
from console.demo import EXPERIMENTS, install_demo, install_history
from console.settings import Settings
from services.exceptions import DynabError
from services.mongo.embedded import EmbeddedMongo
from services.mongo.repository import MongoStore, connect

CONSOLE_ENTRY = Path(__file__).resolve().parent.parent / "app.py"


def add_parser(sub: argparse._SubParsersAction) -> None:
    settings = Settings.from_env()
    p = sub.add_parser(
        "run",
        help="start the embedded stack and the console",
        description="Start the embedded MongoDB server (unless MONGODB_URI is set), create the "
        "demo areas and experiments, and serve the console until Ctrl-C.",
    )
    p.add_argument(
        "--data-dir",
        type=Path,
        default=settings.data_dir,
        help="embedded data folder (default: %(default)s, DYNAB_DATA_DIR)",
    )
    p.add_argument(
        "--mongo-port",
        type=int,
        default=settings.mongo_port,
        help="embedded MongoDB port (default: %(default)s)",
    )
    p.add_argument(
        "--console-port",
        type=int,
        default=settings.console_port,
        help="console port (default: %(default)s, DYNAB_CONSOLE_PORT)",
    )
    p.add_argument(
        "--headless",
        action="store_true",
        help="do not open a browser (always the case without a screen)",
    )
    p.add_argument("--no-demo", action="store_true", help="do not create the demo data")
    p.set_defaults(func=run)


def _step(message: str) -> None:
    print(f"dynab run: {message}", flush=True)


def start_console(
    uri: str, port: int, log_dir: Path, secrets_files: list[Path] | None = None
) -> subprocess.Popen[bytes]:
    env = {**os.environ, "MONGODB_URI": uri}
    log_dir.mkdir(parents=True, exist_ok=True)
    log = open(log_dir / "console.log", "ab")  # noqa: SIM115 - handed to the child process
    cmd = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(CONSOLE_ENTRY),
        "--server.headless",
        "true",
        "--server.port",
        str(port),
        "--server.address",
        "127.0.0.1",
        "--browser.gatherUsageStats",
        "false",
    ]
    try:
        return subprocess.Popen(
            cmd,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    finally:
        log.close()


def wait_http_ok(url: str, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise DynabError(f"the console exited with code {proc.returncode} while starting")
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise DynabError(f"the console did not answer at {url} within {timeout:g} s")


def stop_process(proc: subprocess.Popen[bytes] | None, timeout: float = 10.0) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def run(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    server: EmbeddedMongo | None = None
    console: subprocess.Popen[bytes] | None = None
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        if settings.embedded:
            _step(f"starting the embedded MongoDB server (data in {args.data_dir / 'mongo'})")
            server = start_embedded(args.data_dir, args.mongo_port)
            uri = server.uri
        else:
            uri = settings.mongodb_uri or ""
            _step("using the MongoDB at MONGODB_URI")
        store = MongoStore(connect(uri))
        store.ensure_indexes()
        if settings.embedded and not args.no_demo:
            result = install_demo(store)
            _step(f"demo data: created {', '.join(result.created) or 'nothing new'}")
            # Until the traffic generator and the parameter job feed it, the demo shows three
            # days of synthetic history so that every page has something to draw.
            now = store.clock.now()
            for exp in EXPERIMENTS:
                if not store.hourly_metrics(exp.experiment_id, start=now - timedelta(days=30)):
                    current = store.get_experiment(exp.experiment_id)
                    rows, batches = install_history(store, current, now, 3)
                    _step(f"demo history: {exp.experiment_id}: {rows} rows, {batches} batches")
        secrets_files = [p for p in (Path(".streamlit") / "secrets.toml",) if p.exists()]
        if settings.embedded:
            demo_secrets, passwords = ensure_demo_credentials(args.data_dir / "console")
            secrets_files.append(demo_secrets)
            _step(f"demo users (passwords kept in {demo_secrets.parent}):")
            for name, password in passwords.items():
                _step(f"  {name:<8} {password}")
        _step(f"starting the console on http://localhost:{args.console_port}")
        console = start_console(uri, args.console_port, args.data_dir / "logs", secrets_files)
        wait_http_ok(f"http://127.0.0.1:{args.console_port}/_stcore/health", console)
        _step(f"ready: open http://localhost:{args.console_port}  (Ctrl-C stops everything)")
        while console.poll() is None and (server is None or server.running):
            time.sleep(0.5)
        _step("a component exited; stopping")
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        stop_process(console)
        if server is not None:
            server.stop()
        _step("stopped")
