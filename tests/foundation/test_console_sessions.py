"""Console sessions in MongoDB: open, find, expire, close; bad tokens and settings."""

from __future__ import annotations

from datetime import datetime

import pytest
from pymongo.database import Database

from services.clock import FixedClock
from services.exceptions import ValidationError
from services.mongo.console_sessions import (
    CONSOLE_SESSIONS,
    ConsoleSessions,
    session_hours,
)


@pytest.fixture
def wall() -> FixedClock:
    return FixedClock(datetime(2026, 11, 29, 6, 0))


@pytest.fixture
def sessions(mongo_db: Database, wall: FixedClock) -> ConsoleSessions:
    return ConsoleSessions(mongo_db, hours=2, clock=wall)


def test_a_session_is_found_by_its_token_until_it_expires(sessions, wall) -> None:
    token = sessions.open("olivia", "operator")
    found = sessions.lookup(token)
    assert found is not None and (found.user, found.role) == ("olivia", "operator")
    wall.advance(hours=1, minutes=59)
    assert sessions.lookup(token) is not None
    wall.advance(minutes=1)
    assert sessions.lookup(token) is None
    assert sessions.db[CONSOLE_SESSIONS].count_documents({}) == 0  # deleted when seen expired


def test_closing_ends_the_session_for_every_holder_of_the_token(sessions) -> None:
    token = sessions.open("olivia", "operator")
    other = sessions.open("olivia", "operator")  # another browser
    sessions.close(token)
    assert sessions.lookup(token) is None
    assert sessions.lookup(other) is not None
    sessions.close(token)  # idempotent


def test_the_database_holds_no_usable_token(sessions, mongo_db: Database) -> None:
    token = sessions.open("adam", "analyst")
    (doc,) = mongo_db[CONSOLE_SESSIONS].find()
    assert token not in str(doc)
    assert sessions.lookup(doc["_id"]) is None  # the stored key is not itself a token


@pytest.mark.parametrize("token", [None, "", "x" * 101, 42, "not-a-token"])
def test_unknown_or_malformed_tokens_find_nothing(sessions, token) -> None:
    sessions.open("olivia", "operator")
    assert sessions.lookup(token) is None


def test_session_hours_from_the_environment() -> None:
    assert session_hours(None) == 12
    assert session_hours(" ") == 12
    assert session_hours("0.5") == 0.5
    for bad in ("soon", "0", "-1", "10000"):
        with pytest.raises(ValidationError, match="DYNAB_SESSION_HOURS"):
            session_hours(bad)
