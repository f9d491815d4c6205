"""A process-wide result cache for slow page computations that report progress.

``st.cache_data`` replays the elements a cached function draws and refuses one that updates an
element drawn outside it (a progress bar). :func:`shared_lru` caches by the arguments except
``_progress``, so a first run can move the page's progress bar and later runs -- from any
session -- get the result at once. Cached values are shared: callers must not mutate them.
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

_lock = threading.Lock()
_stores: dict[str, OrderedDict[Any, Any]] = {}


def shared_lru(max_entries: int = 20) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Cache a function's results by its (hashable) arguments, ``_progress`` excluded."""

    def wrap(func: Callable[..., T]) -> Callable[..., T]:
        name = f"{func.__module__}.{func.__qualname__}"

        @functools.wraps(func)
        def call(*args: Any, _progress: Any = None, **kwargs: Any) -> T:
            key = (args, tuple(sorted(kwargs.items())))
            with _lock:
                entries = _stores.setdefault(name, OrderedDict())
                if key in entries:
                    entries.move_to_end(key)
                    return entries[key]
            value = func(*args, _progress=_progress, **kwargs)
            with _lock:
                entries[key] = value
                while len(entries) > max_entries:
                    entries.popitem(last=False)
            return value

        return call

    return wrap


def clear() -> None:
    """Forget every cached result (tests)."""
    with _lock:
        _stores.clear()
