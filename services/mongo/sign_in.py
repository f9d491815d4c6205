"""Sign-in throttle counters and the sign-in log in MongoDB (see services/sign_in_throttle.py).

Two collections:

* ``sign_in_throttle``: one document per user name (``_id = "user:<name>"``) and per client
  address (``"client:<address>"``): ``failures`` (``$inc``, so concurrent consoles add up) and
  ``last_failure`` in epoch seconds (a number: the embedded server would store a ``$set``
  datetime as a string).
* ``sign_in_log``: one document per attempt (``at``, ``user``, ``client``, ``outcome`` =
  ``ok`` | ``wrong`` | ``refused``), inserted whole. Passwords are never stored or logged.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from pymongo.database import Database

from services.clock import Clock, SystemClock
from services.sign_in_throttle import (
    Counter,
    ThrottlePolicy,
    current_failures,
    describe_wait,
    retry_at,
)

THROTTLE = "sign_in_throttle"
SIGN_IN_LOG = "sign_in_log"
#: Longer user names are cut in the key (the form accepts anything a visitor types).
KEY_MAX = 200


@dataclass(frozen=True)
class Refusal:
    """An attempt refused before the password is checked."""

    retry_at: datetime  # naive UTC
    wait_seconds: float
    scope: str  # "user" or "client"

    @property
    def message(self) -> str:
        who = "this user name" if self.scope == "user" else "this address"
        return (
            f"Too many failed sign-ins for {who}. Try again in "
            f"{describe_wait(self.wait_seconds)} (after {self.retry_at:%H:%M:%S} UTC)."
        )


def _epoch(t: datetime) -> float:
    return t.replace(tzinfo=UTC).timestamp()


class SignInGuard:
    """Checks and records sign-in attempts against the shared counters.

    Args:
        db: The console's database.
        policy: The limits.
        clock: Wall-clock time by default: a lockout lasts real minutes even when the embedded
            demo runs on an accelerated clock.
    """

    def __init__(self, db: Database, policy: ThrottlePolicy, clock: Clock | None = None) -> None:
        self.db = db
        self.policy = policy
        self.clock = clock or SystemClock()

    def _keys(self, user: str, client: str | None) -> list[tuple[str, str, int]]:
        keys = [("user", f"user:{user.strip()[:KEY_MAX]}", self.policy.max_failures)]
        if client:
            keys.append(("client", f"client:{client[:KEY_MAX]}", self.policy.client_max_failures))
        return keys

    def _counter(self, key: str) -> Counter:
        doc = self.db[THROTTLE].find_one({"_id": key}) or {}
        return Counter(int(doc.get("failures", 0)), doc.get("last_failure"))

    def check(self, user: str, client: str | None) -> Refusal | None:
        """None when the attempt may go ahead, else why and until when it may not."""
        now = _epoch(self.clock.now())
        worst: Refusal | None = None
        for scope, key, limit in self._keys(user, client):
            at = retry_at(self._counter(key), limit, self.policy, now)
            if at > now and (worst is None or at - now > worst.wait_seconds):
                when = datetime.fromtimestamp(at, UTC).replace(tzinfo=None, microsecond=0)
                worst = Refusal(when, at - now, scope)
        if worst is not None:
            self._log(user, client, "refused")
        return worst

    def record(self, user: str, client: str | None, ok: bool) -> None:
        """Count a checked attempt: a failure adds to both counters, a success clears them."""
        now = _epoch(self.clock.now())
        col = self.db[THROTTLE]
        for _scope, key, _limit in self._keys(user, client):
            if ok:
                col.delete_one({"_id": key})
                continue
            counter = self._counter(key)
            if counter.failures and current_failures(counter, self.policy, now) == 0:
                # Remembered no longer (older than a lockout): start again from zero.
                col.update_one(
                    {"_id": key, "failures": counter.failures}, {"$set": {"failures": 0}}
                )
            col.update_one(
                {"_id": key}, {"$inc": {"failures": 1}, "$set": {"last_failure": now}}, upsert=True
            )
        if not ok:
            # Counters nobody has failed on for a lockout are forgotten anyway: drop them, so
            # that guessing many names does not grow the collection without bound.
            col.delete_many({"last_failure": {"$lt": now - self.policy.lockout_seconds}})
        self._log(user, client, "ok" if ok else "wrong")

    def _log(self, user: str, client: str | None, outcome: str) -> None:
        self.db[SIGN_IN_LOG].insert_one(
            {
                "at": self.clock.now(),
                "user": user.strip()[:KEY_MAX],
                "client": client,
                "outcome": outcome,
            }
        )
