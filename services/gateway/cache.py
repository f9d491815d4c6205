"""The local gateway's response cache: API Gateway's stage cache, emulated.

Keyed by the cache-key parameters (``member_id`` and ``area_code``), entries live ``ttl_seconds``
(API Gateway allows at most 3600) and the cache holds at most ``max_entries``, evicting the least
recently used -- the bound that keeps memory flat under any traffic. Time comes from the injected
clock, so tests can expire entries without sleeping.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from services.clock import Clock
from services.exceptions import ValidationError
from services.experiments import MAX_CACHE_TTL_SECONDS

V = TypeVar("V")

DEFAULT_TTL_SECONDS = 300
DEFAULT_MAX_ENTRIES = 10_000


def check_ttl(ttl_seconds: object) -> int:
    """``ttl_seconds`` if it is a whole number in [1, 3600] (API Gateway's range, less 0)."""
    if (
        isinstance(ttl_seconds, bool)
        or not isinstance(ttl_seconds, int)
        or not 1 <= ttl_seconds <= MAX_CACHE_TTL_SECONDS
    ):
        raise ValidationError(
            "ttl",
            f"must be a whole number of seconds in [1, {MAX_CACHE_TTL_SECONDS}], "
            f"got {ttl_seconds!r}",
        )
    return ttl_seconds


class TtlCache(Generic[V]):
    """A thread-safe LRU cache whose entries expire ``ttl_seconds`` after they were stored."""

    def __init__(
        self,
        clock: Clock,
        *,
        ttl_seconds: int = DEFAULT_TTL_SECONDS,
        max_entries: int = DEFAULT_MAX_ENTRIES,
    ) -> None:
        self.ttl = timedelta(seconds=check_ttl(ttl_seconds))
        if isinstance(max_entries, bool) or not isinstance(max_entries, int) or max_entries < 1:
            raise ValidationError(
                "cache_size", f"must be a positive whole number, got {max_entries!r}"
            )
        self.clock = clock
        self.max_entries = max_entries
        self._entries: OrderedDict[Hashable, tuple[datetime, V]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> V | None:
        """The live value for ``key``, or ``None`` (absent or expired)."""
        now = self.clock.now()
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                return None
            expires, value = found
            if now >= expires:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return value

    def put(self, key: Hashable, value: V) -> None:
        expires = self.clock.now() + self.ttl
        with self._lock:
            self._entries[key] = (expires, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
