"""The selector's in-memory copy of each area's configuration and arm parameters.

A selection needs the area, its active experiment and the experiment's current parameter batch.
Those change once per batch (hourly) or when an operator acts, so reading them per request would
make MongoDB the bottleneck of every page view. They are loaded per area and reused for
``refresh_seconds``: a pause or stop takes effect within that interval.

When the store fails, the last-known copy keeps serving (marked ``stale``) and the store is asked
again only after ``retry_seconds``, so an outage costs one timeout per area per retry interval,
not one per request. Unknown areas are remembered too, so a flood of bad area codes cannot turn
into a flood of reads; the number of areas kept is bounded.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from pymongo.errors import PyMongoError

from services.clock import Clock
from services.exceptions import NotFoundError, StoreUnavailableError
from services.experiments import Area, Experiment
from services.parameters import ParameterSnapshot
from services.store import Store

#: Failures of the store that mean "unreachable or too slow", as opposed to bad data.
STORE_ERRORS: tuple[type[BaseException], ...] = (StoreUnavailableError, PyMongoError, OSError)


@dataclass(frozen=True, slots=True)
class AreaConfig:
    """What one area needs for a selection, as loaded at ``loaded_at``."""

    area: Area
    experiment: Experiment | None
    snapshot: ParameterSnapshot | None
    loaded_at: datetime
    stale: bool = False


@dataclass(slots=True)
class _Entry:
    config: AreaConfig | None  # None: the area does not exist
    next_refresh: datetime


class ConfigurationCache:
    """Per-area configuration, loaded through a :class:`Store` at most every ``refresh_seconds``.

    Thread-safe: concurrent requests for an area whose copy is due share one reload; the others
    keep using the current copy meanwhile.
    """

    def __init__(
        self,
        store: Store,
        clock: Clock,
        *,
        refresh_seconds: float = 30.0,
        retry_seconds: float = 5.0,
        max_areas: int = 1024,
    ) -> None:
        if refresh_seconds <= 0 or retry_seconds <= 0 or max_areas < 1:
            raise ValueError("refresh_seconds, retry_seconds and max_areas must be positive")
        self.store = store
        self.clock = clock
        self.refresh = timedelta(seconds=refresh_seconds)
        self.retry = timedelta(seconds=retry_seconds)
        self.max_areas = max_areas
        self.loads = 0
        self.failures = 0
        self.last_error: str | None = None
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._loading: set[str] = set()
        self._lock = threading.Lock()

    def get(self, area_code: str) -> AreaConfig:
        """The area's configuration, reloaded if due.

        Raises:
            NotFoundError: The area does not exist (as of the last successful load).
            StoreUnavailableError: The store failed and nothing is known about the area.
        """
        now = self.clock.now()
        with self._lock:
            entry = self._entries.get(area_code)
            if entry is not None:
                self._entries.move_to_end(area_code)
                due = now >= entry.next_refresh
                if not due or area_code in self._loading:
                    return _found(area_code, entry)
            self._loading.add(area_code)
        try:
            return self._reload(area_code, now, entry)
        finally:
            with self._lock:
                self._loading.discard(area_code)

    def invalidate(self, area_code: str | None = None) -> None:
        """Forget one area (or all), so the next request reloads it."""
        with self._lock:
            if area_code is None:
                self._entries.clear()
            else:
                self._entries.pop(area_code, None)

    def __len__(self) -> int:
        return len(self._entries)

    def _reload(self, area_code: str, now: datetime, previous: _Entry | None) -> AreaConfig:
        try:
            config = self._load(area_code, now)
        except NotFoundError:
            self._put(area_code, _Entry(None, now + self.refresh))
            raise
        except STORE_ERRORS as exc:
            self.failures += 1
            self.last_error = f"{type(exc).__name__}: {exc}"
            if previous is None:
                raise StoreUnavailableError(
                    f"the store failed and area {area_code!r} is not cached: {self.last_error}"
                ) from exc
            config = previous.config
            if config is not None and not config.stale:
                config = replace(config, stale=True)
            retry = _Entry(config, now + self.retry)
            self._put(area_code, retry)
            return _found(area_code, retry)
        self._put(area_code, _Entry(config, now + self.refresh))
        return config

    def _load(self, area_code: str, now: datetime) -> AreaConfig:
        self.loads += 1
        area = self.store.get_area(area_code)
        experiment = snapshot = None
        if area.active_experiment_id:
            experiment = self.store.get_experiment(area.active_experiment_id)
            snapshot = self.store.get_parameters(experiment.experiment_id, experiment.model_codes)
        return AreaConfig(area, experiment, snapshot, now)

    def _put(self, area_code: str, entry: _Entry) -> None:
        with self._lock:
            self._entries[area_code] = entry
            self._entries.move_to_end(area_code)
            while len(self._entries) > self.max_areas:
                self._entries.popitem(last=False)


def _found(area_code: str, entry: _Entry) -> AreaConfig:
    if entry.config is None:
        raise NotFoundError(f"unknown area {area_code!r}")
    return entry.config
