"""A log that says the same thing at most once per interval, with a count of what it held back.

During a MongoDB outage the gateway fails the same way on every flush and on every request for
an area it never loaded; printing each failure grows the log by megabytes a second and buries
the first, useful line. One line per kind of message per ``interval_seconds`` says as much.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import TextIO


class RateLimitedLog:
    """Prints ``prefix: message`` lines, at most one per ``key`` per ``interval_seconds``."""

    def __init__(
        self,
        prefix: str,
        *,
        interval_seconds: float = 10.0,
        stream: TextIO | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if interval_seconds < 0:
            raise ValueError(f"interval_seconds must be >= 0, got {interval_seconds!r}")
        self.prefix = prefix
        self.interval = interval_seconds
        self.stream = stream
        self.monotonic = monotonic
        self.printed = 0
        self.suppressed = 0
        self._last: dict[str, tuple[float, int]] = {}  # key -> (printed at, held back since)
        self._lock = threading.Lock()

    def say(self, key: str, message: str) -> bool:
        """Print ``message`` unless a ``key`` line went out within the interval; True if printed."""
        now = self.monotonic()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last[0] < self.interval:
                self._last[key] = (last[0], last[1] + 1)
                self.suppressed += 1
                return False
            held = last[1] if last is not None else 0
            self._last[key] = (now, 0)
            self.printed += 1
        if held:
            message += f" ({held} more like this in the last {now - last[0]:.0f} s not shown)"  # type: ignore[index]
        print(f"{self.prefix}: {message}", file=self.stream or sys.stderr, flush=True)
        return True
