"""How often a console sign-in may be tried: exponential back-off, then a temporary lockout.

Pure rules, no I/O: the counts live in MongoDB (``services.mongo.sign_in``) so that every
console process and session shares them. Two counters apply to every attempt, one per user name
(known or not, so that the answer never reveals which names exist) and one per client address;
an attempt is refused while either is cooling down, and a refused attempt is not checked at all
(bcrypt is never run), so a locked account cannot be guessed into.

After the n-th failure in a row the next attempt waits ``backoff * 2**(n-1)`` seconds; from
``max_failures`` failures on it waits ``lockout`` seconds. A counter whose last failure is older
than the lockout starts again from zero; a successful sign-in clears both counters.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from services.exceptions import ValidationError

#: Environment variables and their defaults (documented in README's configuration table).
ENV_DEFAULTS: dict[str, float] = {
    "DYNAB_SIGNIN_MAX_FAILURES": 5,
    "DYNAB_SIGNIN_CLIENT_MAX_FAILURES": 20,
    "DYNAB_SIGNIN_BACKOFF_SECONDS": 1.0,
    "DYNAB_SIGNIN_LOCKOUT_SECONDS": 900.0,
}


@dataclass(frozen=True)
class ThrottlePolicy:
    """Limits on sign-in attempts; validated at construction.

    Attributes:
        max_failures: Failures in a row for one user name before it is locked out.
        client_max_failures: The same for one client address (higher: a shared office address
            carries many people's typos).
        backoff_seconds: Wait after the first failure; doubles with every further one.
        lockout_seconds: How long a lockout lasts; also how long failures are remembered.
    """

    max_failures: int = 5
    client_max_failures: int = 20
    backoff_seconds: float = 1.0
    lockout_seconds: float = 900.0

    def __post_init__(self) -> None:
        for name in ("max_failures", "client_max_failures"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValidationError(name, f"must be a whole number >= 1, got {value!r}")
        for name in ("backoff_seconds", "lockout_seconds"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ValidationError(name, f"must be a number of seconds >= 0, got {value!r}")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ThrottlePolicy:
        """The policy from ``DYNAB_SIGNIN_*``; a malformed value names its variable."""
        env = os.environ if env is None else env
        values: dict[str, float] = {}
        for var, default in ENV_DEFAULTS.items():
            raw = env.get(var)
            try:
                values[var] = default if raw in (None, "") else float(raw)  # type: ignore[arg-type]
            except ValueError:
                raise ValidationError(var, f"must be a number, got {raw!r}") from None
        return cls(
            max_failures=_whole("DYNAB_SIGNIN_MAX_FAILURES", values),
            client_max_failures=_whole("DYNAB_SIGNIN_CLIENT_MAX_FAILURES", values),
            backoff_seconds=values["DYNAB_SIGNIN_BACKOFF_SECONDS"],
            lockout_seconds=values["DYNAB_SIGNIN_LOCKOUT_SECONDS"],
        )


def _whole(var: str, values: Mapping[str, float]) -> int:
    value = values[var]
    if value != int(value):
        raise ValidationError(var, f"must be a whole number, got {value}")
    return int(value)


@dataclass(frozen=True)
class Counter:
    """Failures in a row of one user name or client, and when the last one happened (epoch s)."""

    failures: int = 0
    last_failure: float | None = None


def current_failures(counter: Counter, policy: ThrottlePolicy, now: float) -> int:
    """Failures still remembered at ``now`` (forgotten a lockout after the last one)."""
    if counter.failures <= 0 or counter.last_failure is None:
        return 0
    if now - counter.last_failure >= policy.lockout_seconds:
        return 0
    return counter.failures


def wait_after(failures: int, max_failures: int, policy: ThrottlePolicy) -> float:
    """Seconds the next attempt must wait after ``failures`` failures in a row."""
    if failures <= 0:
        return 0.0
    if failures >= max_failures:
        return policy.lockout_seconds
    return min(policy.backoff_seconds * 2.0 ** (failures - 1), policy.lockout_seconds)


def retry_at(counter: Counter, max_failures: int, policy: ThrottlePolicy, now: float) -> float:
    """Epoch seconds from which the next attempt is allowed (``<= now``: allowed now)."""
    failures = current_failures(counter, policy, now)
    if failures == 0 or counter.last_failure is None:
        return now
    return counter.last_failure + wait_after(failures, max_failures, policy)


def describe_wait(seconds: float) -> str:
    """A wait as people say it: ``14 min 5 s``, ``3 s``."""
    whole = max(1, int(seconds + 0.999))
    minutes, secs = divmod(whole, 60)
    if minutes and secs:
        return f"{minutes} min {secs} s"
    if minutes:
        return f"{minutes} min"
    return f"{secs} s"
