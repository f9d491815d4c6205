"""The selector's in-memory copy of each area's configuration and arm parameters.

A selection needs the area, its active experiment and the experiment's current parameter batch.
Those change once per batch (hourly) or when an operator acts, so reading them per request would
make MongoDB the bottleneck of every page view. They are loaded per area and reused for
``refresh_seconds``: a pause or stop takes effect within that interval.

When the store fails, the failure itself is remembered for ``retry_seconds``: until then no
request asks the store again. An area loaded before keeps serving its last-known copy (marked
``stale``); an area never loaded raises :class:`StoreUnavailableError` at once, so the service
answers with the configured default without waiting on a timeout. After the interval one request
asks the store again while the others keep the answers above, so an outage -- even one that
started before the first request -- costs one store timeout per retry interval, not one per
request or per area. Unknown areas are remembered too, so a flood of bad area codes cannot turn
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
        self._loading: dict[str, threading.Event] = {}
        self._down_until: datetime | None = None  # the store failed: not asked before then
        self._probing = False  # one request is asking a store that was down
        self._lock = threading.Lock()

    def get(self, area_code: str) -> AreaConfig:
        """The area's configuration, reloaded if due.

        Raises:
            NotFoundError: The area does not exist (as of the last successful load).
            StoreUnavailableError: The store failed and nothing is known about the area.
        """
        while True:
            now = self.clock.now()
            with self._lock:
                entry = self._entries.get(area_code)
                if entry is not None:
                    self._entries.move_to_end(area_code)
                    due = now >= entry.next_refresh
                    if not due or area_code in self._loading:
                        return _found(area_code, entry)
                loading = self._loading.get(area_code)
                until = self._down_until
                down = probe = False
                if loading is None:
                    probe = until is not None
                    down = until is not None and (now < until or self._probing)
                    if not down:
                        self._probing = self._probing or probe
                        self._loading[area_code] = threading.Event()
            if down:
                return self._while_down(area_code, entry, until)  # type: ignore[arg-type]
            if loading is not None:
                # Another request is loading an area never loaded: wait for its result rather
                # than asking the store a second time.
                loading.wait(timeout=self.retry.total_seconds() + 30)
                continue
            try:
                return self._reload(area_code, now, entry)
            finally:
                with self._lock:
                    self._loading.pop(area_code).set()
                    if probe:
                        self._probing = False

    def store_failed(self, error: str) -> None:
        """Record a store failure seen elsewhere (a start-up ping): nothing asks the store again
        for ``retry_seconds``, and areas never loaded are answered at once meanwhile."""
        with self._lock:
            self.failures += 1
            self.last_error = error
            self._down_until = self.clock.now() + self.retry

    @property
    def store_down(self) -> bool:
        """Whether the last attempt to read the store failed."""
        return self._down_until is not None

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
            self.last_error = _one_line(exc)
            # From when the attempt gave up: a timeout must not eat the interval.
            until = self.clock.now() + self.retry
            with self._lock:
                self._down_until = until
            if previous is None:
                raise StoreUnavailableError(
                    f"the store failed and area {area_code!r} is not cached: {self.last_error}"
                ) from exc
            return self._keep(area_code, previous, until)
        with self._lock:
            self._down_until = None
        self._put(area_code, _Entry(config, now + self.refresh))
        return config

    def _while_down(self, area_code: str, previous: _Entry | None, until: datetime) -> AreaConfig:
        """The answer for an area due for loading while the store is known to be down."""
        if previous is None:
            raise StoreUnavailableError(
                f"the store is unavailable (asked again after {self.retry.total_seconds():g} s) "
                f"and area {area_code!r} is not cached: {self.last_error}"
            )
        return self._keep(area_code, previous, until)

    def _keep(self, area_code: str, previous: _Entry, until: datetime) -> AreaConfig:
        config = previous.config
        if config is not None and not config.stale:
            config = replace(config, stale=True)
        kept = _Entry(config, until)
        self._put(area_code, kept)
        return _found(area_code, kept)

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


def _one_line(exc: BaseException) -> str:
    """``Type: message`` on one line; pymongo's topology description is cut off."""
    message = " ".join(str(exc).split()).split(" (configured timeouts:")[0].split(", Timeout:")[0]
    return f"{type(exc).__name__}: {message[:300]}"


def _found(area_code: str, entry: _Entry) -> AreaConfig:
    if entry.config is None:
        raise NotFoundError(f"unknown area {area_code!r}")
    return entry.config
