"""The console in a real browser: ``streamlit run`` on a free port, driven by Playwright with
Debian's Chromium (``apt-get install chromium``; no browser download). Screenshots are written
to ``artifacts/screenshots/``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pymongo.database import Database

from dynab.demo import EXPERIMENTS, install_demo, install_history
from services.experiments import Status
from services.mongo.embedded import EmbeddedMongo
from services.mongo.repository import MongoStore
from tests.browser.helpers import (
    MENU,
    ROOT,
    launch,
    new_page,
    open_page,
    running_console,
    settle,
    sign_in,
)
from tests.console.conftest import NOW

pytestmark = pytest.mark.browser

SHOTS = ROOT / "artifacts" / "screenshots"
PASSWORD = "browser-operator-pw"


@pytest.fixture
def console_url(
    tmp_path: Path, mongo_server: EmbeddedMongo, mongo_db: Database, store: MongoStore
) -> Iterator[str]:
    install_demo(store)
    for i, exp in enumerate(EXPERIMENTS):
        install_history(store, store.get_experiment(exp.experiment_id), NOW, 3, seed=i)
    users = {"olivia": (PASSWORD, "operator")}
    with running_console(tmp_path, mongo_server.uri, mongo_db.name, users) as url:
        yield url


def test_sign_in_create_start_and_visit_every_page(console_url: str, store: MongoStore) -> None:
    from playwright.sync_api import expect, sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = launch(p)
        page = new_page(browser)

        # The very first request of a fresh server is a deep link: a visitor sees only the
        # sign-in (and no pages-folder menu, since the pages live in console/views/).
        visitor = browser.new_page()
        visitor.goto(f"{console_url}/winners")
        settle(visitor)
        expect(visitor.get_by_role("heading", name="dynab console")).to_be_visible()
        expect(visitor.get_by_text("Right now")).to_have_count(0)
        visitor.close()

        page.goto(console_url)
        settle(page)
        expect(page.get_by_role("heading", name="dynab console")).to_be_visible()
        page.screenshot(path=str(SHOTS / "00_sign_in.png"), full_page=True)

        sign_in(page, "olivia", PASSWORD)
        nav = page.locator('[data-testid="stSidebarNav"]')
        for title in MENU:
            expect(nav.get_by_role("link", name=title)).to_be_visible()

        # Create a draft in the free CART area and start it. Pages are opened from the menu: a
        # reload starts a new Streamlit session, which has to sign in again.
        open_page(page, "Experiments")
        form = page.locator('[data-testid="stForm"]').last
        for label, value in [
            ("Experiment id", "EXP-42"),
            ("Name", "Cart: popular vs NCF (browser)"),
            ("Model 1 code", "CART-POP-01"),
            ("Model 2 code", "CART-NCF-01"),
        ]:
            form.get_by_role("textbox", name=label, exact=True).fill(value)
        # The area defaults to the first one, CART, the demo's free area.
        page.get_by_role("button", name="Create draft").click()
        expect(page.get_by_text("Draft EXP-42 created")).to_be_visible()
        settle(page)
        page.get_by_text("I confirm this change to EXP-42").click()
        page.get_by_role("button", name="Apply").click()
        expect(page.get_by_text("EXP-42 is now running (by olivia).")).to_be_visible()
        settle(page)
        page.screenshot(path=str(SHOTS / "02_experiments.png"), full_page=True)

        for heading, shot in [
            ("Overview", "01_overview.png"),
            ("Live CTR", "03_live_ctr.png"),
            ("Winners", "04_winners.png"),
            ("Posteriors", "05_posteriors.png"),
            ("Operations", "06_operations.png"),
            ("Simulator", "07_simulator.png"),
        ]:
            open_page(page, heading)
            expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
            if heading not in (
                "Overview",
                "Operations",
            ):  # the demo's running dynamic test has charts
                expect(page.locator('[data-testid="stVegaLiteChart"]').first).to_be_visible()
            expect(page.locator('[data-testid="stException"]')).to_have_count(0)
            page.screenshot(path=str(SHOTS / shot), full_page=True)
        browser.close()

    started = store.get_experiment("EXP-42")
    assert started.status is Status.RUNNING and started.updated_by == "olivia"
    assert [e.action for e in store.audit_history("EXP-42")] == ["create", "start"]
