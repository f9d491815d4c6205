"""Fixtures of the console's AppTests: the pages read a fresh test database per test."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest
import streamlit as st
from pymongo.database import Database
from streamlit.testing.v1 import AppTest

from console.auth import hash_password
from dynab.demo import EXPERIMENTS, install_demo, install_history
from services.mongo.embedded import EmbeddedMongo
from services.mongo.repository import MongoStore

APP = str(Path(__file__).resolve().parents[2] / "console" / "app.py")
NOW = datetime(2026, 11, 28, 9, 0, 0)
PASSWORDS = {"olivia": "operator-pw", "adam": "analyst-pw"}


@pytest.fixture(scope="session")
def auth_secrets() -> dict:
    # Four rounds keep bcrypt fast in tests; the console accepts any cost.
    return {
        "users": {
            "olivia": {"password_hash": hash_password(PASSWORDS["olivia"], 4), "role": "operator"},
            "adam": {"password_hash": hash_password(PASSWORDS["adam"], 4), "role": "analyst"},
        }
    }


@pytest.fixture
def console_db(
    monkeypatch: pytest.MonkeyPatch, mongo_server: EmbeddedMongo, mongo_db: Database
) -> Iterator[Database]:
    """Point the console at this test's database; forget every cached client and query after."""
    monkeypatch.setenv("MONGODB_URI", mongo_server.uri)
    monkeypatch.setenv("MONGODB_DB", mongo_db.name)
    st.cache_data.clear()
    st.cache_resource.clear()
    yield mongo_db
    st.cache_data.clear()
    st.cache_resource.clear()


@pytest.fixture
def make_app(console_db: Database, auth_secrets: dict) -> Callable[..., AppTest]:
    """An AppTest of the whole console, signed in as ``user`` (None: not signed in)."""

    def make(user: str | None = "olivia", page: str | None = None) -> AppTest:
        at = AppTest.from_file(APP, default_timeout=30)
        at.secrets["auth"] = auth_secrets
        at.session_state["dynab_now"] = NOW
        if user is not None:
            role = auth_secrets["users"][user]["role"]
            at.session_state["auth_user"] = {"name": user, "role": role}
        at.run()
        if page is not None:
            at.switch_page(f"views/{page}.py")
            at.run()
        return at

    return make


@pytest.fixture
def demo(store: MongoStore, console_db: Database) -> MongoStore:
    """The demo areas and experiments, started, with three days of hourly metrics and batches."""
    install_demo(store)
    for i, exp in enumerate(EXPERIMENTS):
        install_history(store, store.get_experiment(exp.experiment_id), NOW, 3, seed=i)
    return store


def shown(markdown: object) -> str:
    """What a reader sees of Markdown source that escapes user text (console/text.py)."""
    return re.sub(r"\\(.)", r"\1", str(markdown))


def texts(at: AppTest, kind: str) -> list[str]:
    """Every value of one element kind (``error``, ``info``, ``success``...), as read."""
    return [shown(e.value) for e in getattr(at, kind)]


def frame(at: AppTest, first_column: str):
    """The dataframe whose first column is ``first_column`` (AppTest does not look frames up
    by key)."""
    for element in at.dataframe:
        if list(element.value.columns)[:1] == [first_column]:
            return element.value
    raise AssertionError(f"no dataframe starting with column {first_column!r}")
