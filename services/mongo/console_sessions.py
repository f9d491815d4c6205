"""Console sign-in sessions in MongoDB: what lets a browser reload keep its user.

The browser holds a random token in a cookie; the ``console_sessions`` collection holds one
document per session, keyed by the token's SHA-256 (a copy of the database gives no usable
token): ``user``, ``role``, ``created`` and ``expires`` in epoch seconds (numbers, so that the
embedded server and real MongoDB store them alike). Signing out deletes the document, which
ends the session in every tab that holds the cookie; an expired session is deleted when seen.
Sessions live on wall-clock time, also when the demo runs on an accelerated clock.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC

from pymongo.database import Database

from services.clock import Clock, SystemClock
from services.exceptions import ValidationError

CONSOLE_SESSIONS = "console_sessions"
#: Default lifetime of a session, in hours.
SESSION_HOURS = 12.0
#: Tokens are URL-safe base64 of 32 random bytes; anything else is not looked up.
TOKEN_MAX = 100


@dataclass(frozen=True)
class SessionRecord:
    user: str
    role: str
    expires: float  # epoch seconds


def session_hours(raw: str | None) -> float:
    """``DYNAB_SESSION_HOURS`` as a number of hours (default 12)."""
    if raw is None or raw.strip() == "":
        return SESSION_HOURS
    try:
        hours = float(raw)
    except ValueError:
        raise ValidationError("DYNAB_SESSION_HOURS", f"must be a number, got {raw!r}") from None
    if not 0 < hours <= 24 * 90:
        raise ValidationError("DYNAB_SESSION_HOURS", f"must be in (0, 2160], got {hours:g}")
    return hours


def _key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class ConsoleSessions:
    def __init__(self, db: Database, hours: float = SESSION_HOURS, clock: Clock | None = None):
        self.db = db
        self.hours = hours
        self.clock = clock or SystemClock()

    def _now(self) -> float:
        return self.clock.now().replace(tzinfo=UTC).timestamp()

    def open(self, user: str, role: str) -> str:
        """A new session for ``user``; returns the token for the cookie."""
        token = secrets.token_urlsafe(32)
        now = self._now()
        self.db[CONSOLE_SESSIONS].insert_one(
            {
                "_id": _key(token),
                "user": user,
                "role": role,
                "created": now,
                "expires": now + self.hours * 3600,
            }
        )
        return token

    def lookup(self, token: str | None) -> SessionRecord | None:
        """The session of ``token`` if it exists and has not expired."""
        if not isinstance(token, str) or not token or len(token) > TOKEN_MAX:
            return None
        doc = self.db[CONSOLE_SESSIONS].find_one({"_id": _key(token)})
        if doc is None:
            return None
        if float(doc.get("expires", 0)) <= self._now():
            self.close(token)
            return None
        return SessionRecord(str(doc["user"]), str(doc["role"]), float(doc["expires"]))

    def close(self, token: str | None) -> None:
        """End the session (idempotent)."""
        if isinstance(token, str) and token and len(token) <= TOKEN_MAX:
            self.db[CONSOLE_SESSIONS].delete_one({"_id": _key(token)})
