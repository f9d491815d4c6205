"""Launcher of the embedded MongoDB server (``nx-27017``: the MongoDB wire protocol on SQLite).

Used when ``MONGODB_URI`` is unset: by ``dynab mongo``, ``dynab run`` and the test fixtures. It
starts the server on a given or free port with its data under a folder, waits until it answers a
``ping``, and stops it cleanly. Anything that keeps it from starting is one clear error.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from services.exceptions import DynabError


class EmbeddedMongoError(DynabError):
    """The embedded server could not be started."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _server_command() -> list[str]:
    exe = Path(sys.executable).with_name("nx-27017")
    if exe.exists():
        return [str(exe)]
    found = shutil.which("nx-27017")
    if found:
        return [found]
    raise EmbeddedMongoError(
        "the embedded MongoDB server nx-27017 is not installed; run `make run` or "
        "`pip install nx-27017`, or set MONGODB_URI to a MongoDB server"
    )


def _port_open(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


@dataclass
class EmbeddedMongo:
    """One embedded server process. Use as a context manager or call start()/stop()."""

    data_dir: Path
    port: int | None = None
    host: str = "127.0.0.1"
    start_timeout: float = 15.0
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def uri(self) -> str:
        if self.port is None:
            raise EmbeddedMongoError("the embedded server has not been started")
        return f"mongodb://{self.host}:{self.port}/"

    @property
    def log_file(self) -> Path:
        return Path(self.data_dir) / "nx-27017.log"

    def start(self) -> EmbeddedMongo:
        self.data_dir = Path(self.data_dir)
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise EmbeddedMongoError(f"cannot create data folder {self.data_dir}: {exc}") from exc
        if self.port is None:
            self.port = free_port(self.host)
        elif _port_open(self.host, self.port):
            raise EmbeddedMongoError(
                f"port {self.port} on {self.host} is already in use; "
                "stop what listens there or choose another port"
            )
        cmd = [
            *_server_command(),
            "--data-dir",
            str(self.data_dir),
            "--host",
            self.host,
            "-p",
            str(self.port),
            "--log-file",
            str(self.log_file),
            "--pid-file",
            str(self.data_dir / "nx-27017.pid"),
        ]
        log = open(self.log_file, "ab")  # noqa: SIM115 - handed to the child process
        try:
            self.process = subprocess.Popen(
                cmd,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        finally:
            log.close()
        self._wait_until_ready()
        return self

    def _wait_until_ready(self) -> None:
        import pymongo

        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise EmbeddedMongoError(
                    f"the embedded MongoDB server exited with code {self.process.returncode} "
                    f"while starting; see {self.log_file}"
                )
            if _port_open(self.host, self.port or 0):
                client: pymongo.MongoClient = pymongo.MongoClient(
                    self.uri, serverSelectionTimeoutMS=500
                )
                try:
                    client.admin.command("ping")
                    return
                except Exception:
                    pass
                finally:
                    client.close()
            time.sleep(0.05)
        self.stop()
        raise EmbeddedMongoError(
            f"the embedded MongoDB server did not answer on {self.host}:{self.port} within "
            f"{self.start_timeout:g} s; see {self.log_file}"
        )

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server: SIGTERM, then SIGKILL if it does not exit within ``timeout``."""
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def __enter__(self) -> EmbeddedMongo:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
