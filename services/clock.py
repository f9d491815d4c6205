"""Clocks: time is injected, never read deep inside logic.

Production runs on wall-clock time. The embedded demo runs on an accelerated clock shared by
every process: simulated time = epoch + (real time - real epoch) x speed, so that every process
given the same epoch and speed agrees on the simulated hour without talking to the others.
All times are naive UTC datetimes, as MongoDB stores them (millisecond precision).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from services.exceptions import ValidationError


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, naive UTC."""
        ...


def utc_now() -> datetime:
    """Wall-clock time as naive UTC, truncated to milliseconds (MongoDB's precision)."""
    now = datetime.now(UTC).replace(tzinfo=None)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


class SystemClock:
    def now(self) -> datetime:
        return utc_now()


@dataclass
class FixedClock:
    """A clock that moves only when told to; for tests."""

    current: datetime

    def now(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> datetime:
        self.current = self.current + timedelta(**delta)
        return self.current


@dataclass(frozen=True)
class AcceleratedClock:
    """Simulated time running ``speed`` times faster than the wall clock from ``real_epoch``."""

    sim_epoch: datetime
    real_epoch: float
    speed: float = 60.0

    def __post_init__(self) -> None:
        if not self.speed > 0:
            raise ValueError(f"speed must be positive, got {self.speed}")

    def now(self) -> datetime:
        elapsed = (time.time() - self.real_epoch) * self.speed
        sim = self.sim_epoch + timedelta(seconds=elapsed)
        return sim.replace(microsecond=sim.microsecond // 1000 * 1000)

    def real_seconds(self, simulated: timedelta) -> float:
        """How many wall-clock seconds a simulated duration takes."""
        return simulated.total_seconds() / self.speed


def floor_hour(t: datetime) -> datetime:
    return t.replace(minute=0, second=0, microsecond=0)


def clock_from_env(env: Mapping[str, str]) -> Clock:
    """The demo's shared accelerated clock when ``dynab run`` passed one, else wall-clock time.

    ``DYNAB_SIM_EPOCH`` (ISO time), ``DYNAB_REAL_EPOCH`` (Unix seconds) and ``DYNAB_CLOCK_SPEED``
    together define it, so that every process of the embedded stack agrees on the simulated hour.
    The caller passes the environment (``os.environ``): nothing here reads it.
    """
    sim_epoch = env.get("DYNAB_SIM_EPOCH")
    if not sim_epoch:
        return SystemClock()
    try:
        return AcceleratedClock(
            sim_epoch=datetime.fromisoformat(sim_epoch).replace(tzinfo=None),
            real_epoch=float(env["DYNAB_REAL_EPOCH"]),
            speed=float(env.get("DYNAB_CLOCK_SPEED") or 60.0),
        )
    except (KeyError, ValueError) as exc:
        raise ValidationError(
            "DYNAB_SIM_EPOCH", f"demo clock settings are invalid: {exc}"
        ) from None
