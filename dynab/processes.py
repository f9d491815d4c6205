"""Child processes of the ``dynab`` command: the console's ``streamlit run``, waiting, stopping."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import console
from services.exceptions import DynabError

#: The console's Streamlit entry point.
CONSOLE_ENTRY = Path(console.__file__).resolve().parent / "app.py"


def start_console(
    uri: str,
    port: int,
    log_dir: Path,
    secrets_files: list[Path] | None = None,
    extra_env: dict[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    env = {**os.environ, **(extra_env or {}), "MONGODB_URI": uri}
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
    for secrets in secrets_files or ():
        cmd += ["--secrets.files", str(secrets)]
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
