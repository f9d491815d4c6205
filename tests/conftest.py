"""Shared fixtures: the embedded MongoDB server (a real wire-protocol server, not a mock)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from pymongo.database import Database

from services.clock import FixedClock
from services.mongo.embedded import EmbeddedMongo
from services.mongo.repository import MongoStore, connect

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("AWS_XRAY_SDK_ENABLED", "false")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")


@pytest.fixture(scope="session")
def mongo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedMongo]:
    """One embedded MongoDB server for the whole run, on a free port."""
    server = EmbeddedMongo(data_dir=tmp_path_factory.mktemp("mongo"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def mongo_db(mongo_server: EmbeddedMongo) -> Iterator[Database]:
    """A fresh, uniquely named database per test, dropped afterwards."""
    db = connect(mongo_server.uri, db_name=f"t_{uuid.uuid4().hex[:12]}", timeout_ms=3000)
    yield db
    db.client.drop_database(db.name)
    db.client.close()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2026, 11, 28, 9, 0, 0))


@pytest.fixture
def store(mongo_db: Database, clock: FixedClock) -> MongoStore:
    repo = MongoStore(mongo_db, clock)
    repo.ensure_indexes()
    return repo


def skip_or_fail(reason: str) -> None:
    """A missing system component (Java, Chromium): skip on a developer's machine, fail in CI.

    ``make test`` installs both, so in CI a missing one is a broken setup, never a pass.
    """
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set: make test should have installed it)")
    pytest.skip(reason)
