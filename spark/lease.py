"""One parameter-job run at a time: a lease document with an owner and an expiry.

Two runs at once would both rewrite the same hours and batches. A run takes the lease before it
reads anything and gives it back at the end; a second run waits for it or stops with one line.
A run that died keeps the lease until it expires; on the same host a dead owner's lease is taken
over at once (its process id is gone), so a killed job can be rerun straight away.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Callable
from datetime import datetime

from services.clock import utc_now
from services.exceptions import DynabError

LEASE_NAME = "parameter-job"


class JobBusyError(DynabError):
    """Another run of the parameter job holds the lease."""


def new_owner() -> str:
    """``host:pid:random``: unique per run, and tells a dead local owner apart."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def owner_is_dead(owner: str) -> bool:
    """True when ``owner`` ran on this host and its process no longer exists."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False  # another run in this process (a thread): alive
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class JobLease:
    """Acquire, renew and release the job's lease through the store."""

    def __init__(
        self,
        store: object,
        *,
        ttl_seconds: float = 600.0,
        owner: str | None = None,
        now: Callable[[], datetime] = utc_now,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.store = store
        self.ttl = ttl_seconds
        self.owner = owner or new_owner()
        self.now = now
        self.sleep = sleep

    def acquire(self, *, wait_seconds: float = 0.0, note: str = "") -> None:
        """Take the lease, waiting up to ``wait_seconds``.

        Raises:
            JobBusyError: still held by a live run after the wait.
        """
        deadline = time.monotonic() + wait_seconds
        while True:
            if self.store.acquire_lease(  # type: ignore[attr-defined]
                LEASE_NAME, self.owner, now=self.now(), ttl_seconds=self.ttl, note=note
            ):
                return
            holder = self.store.lease(LEASE_NAME) or {}  # type: ignore[attr-defined]
            other = str(holder.get("owner", ""))
            if other and owner_is_dead(other):
                self.store.release_lease(LEASE_NAME, other)  # type: ignore[attr-defined]
                continue
            if time.monotonic() >= deadline:
                until = holder.get("expires_at")
                raise JobBusyError(
                    f"another parameter-job run ({other or 'unknown'}, {holder.get('note', '')})"
                    f" holds the lease until {until:%Y-%m-%d %H:%M:%S} UTC; try again later"
                    if isinstance(until, datetime)
                    else "another parameter-job run holds the lease; try again later"
                )
            self.sleep(min(1.0, max(0.05, deadline - time.monotonic())))

    def renew(self) -> None:
        """Extend the lease; raises JobBusyError if it was lost (expired and taken)."""
        if not self.store.renew_lease(  # type: ignore[attr-defined]
            LEASE_NAME, self.owner, now=self.now(), ttl_seconds=self.ttl
        ):
            raise JobBusyError("the parameter job lost its lease to another run; stopping")

    def release(self) -> None:
        self.store.release_lease(LEASE_NAME, self.owner)  # type: ignore[attr-defined]
