"""The demo users' passwords stay in a private file: `dynab run` prints where, never what."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dynab.credentials import demo_users_note, ensure_demo_credentials, passwords_file
from tests.conftest import ROOT


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_password_files_are_private_and_the_note_names_the_file(tmp_path: Path) -> None:
    secrets_file, passwords = ensure_demo_credentials(tmp_path)
    for path in (secrets_file, passwords_file(tmp_path)):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    note = demo_users_note(tmp_path)
    assert str(passwords_file(tmp_path)) in note
    assert not any(p in note for p in passwords.values())


@pytest.mark.slow
def test_dynab_run_prints_where_the_passwords_are_not_the_passwords(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("MONGODB_URI", "MONGODB_DB")}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dynab.cli",
            "run",
            "--no-job",
            "--no-demo",
            "--data-dir",
            str(tmp_path),
            "--mongo-port",
            str(_free_port()),
            "--gateway-port",
            str(_free_port()),
            "--console-port",
            str(_free_port()),
        ],
        cwd=ROOT,
        env={**env, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    deadline = time.monotonic() + 120
    try:
        assert proc.stdout is not None
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "ready: open" in line:
                break
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
        lines.append(out)
    output = "".join(lines)
    assert "ready: open" in output, output
    passwords = json.loads(passwords_file(tmp_path / "console").read_text())
    assert set(passwords) == {"operator", "analyst"}
    for password in passwords.values():
        assert password not in output
    assert str(passwords_file(tmp_path / "console")) in output
