"""Guardrail incidents on the Overview in Chromium: an analyst sees an open incident but has no
button; an operator acknowledges it, it leaves the open list, and the audit has the entry."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pymongo.database import Database

from dynab.demo import install_demo
from services.guardrails.evaluate import ActionKind, GuardrailAction, Rule
from services.mongo.embedded import EmbeddedMongo
from services.mongo.incidents import list_incidents, raise_incident
from services.mongo.repository import MongoStore
from tests.browser.helpers import launch, new_page, running_console, settle, sign_in

pytestmark = pytest.mark.browser

USERS = {"olivia": ("incident-operator-pw", "operator"), "adam": ("incident-analyst-pw", "analyst")}
MESSAGE = "split check failed on members (p = 0.0004)"


@pytest.fixture
def console_url(
    tmp_path: Path, mongo_server: EmbeddedMongo, mongo_db: Database, store: MongoStore
) -> Iterator[str]:
    install_demo(store)
    with running_console(tmp_path, mongo_server.uri, mongo_db.name, USERS) as url:
        yield url


def _signed_in(browser, url: str, user: str):
    page = new_page(browser)
    page.goto(url)
    settle(page)
    sign_in(page, user, USERS[user][0])
    settle(page)
    return page


def test_an_operator_acknowledges_an_incident_and_an_analyst_cannot(
    console_url: str, store: MongoStore
) -> None:
    from playwright.sync_api import expect, sync_playwright

    action = GuardrailAction(ActionKind.PAUSE, Rule.SPLIT_INTEGRITY, "EXP-01", "MAIN", MESSAGE)
    incident, _ = raise_incident(store, action)
    main = '[data-testid="stMain"]'
    with sync_playwright() as p:
        browser = launch(p)

        analyst = _signed_in(browser, console_url, "adam")
        expect(analyst.get_by_role("heading", name="Incidents")).to_be_visible()
        expect(analyst.locator(main).get_by_text(MESSAGE)).to_be_visible()
        expect(analyst.get_by_role("button", name="Acknowledge")).to_have_count(0)
        analyst.close()

        operator = _signed_in(browser, console_url, "olivia")
        expect(operator.locator(main).get_by_text(MESSAGE)).to_be_visible()
        operator.get_by_role("button", name="Acknowledge").click()
        settle(operator)
        expect(operator.locator(main).get_by_text(MESSAGE)).to_have_count(0)
        expect(operator.get_by_role("heading", name="Incidents")).to_have_count(0)
        browser.close()

    assert list_incidents(store, status="open") == []
    (acknowledged,) = list_incidents(store, status="acknowledged")
    assert acknowledged.incident_id == incident.incident_id
    entry = store.audit_history("EXP-01")[-1]
    assert (entry.action, entry.by) == ("acknowledge_incident", "olivia")
