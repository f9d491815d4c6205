"""The console's flows in a real browser (Debian's Chromium under Playwright): promoting a model
through the UI until the local gateway serves it, the confirmation cleared after every action,
the one demo clock in the sidebar, deep links through the sign-in, and a session that survives a
reload but not a sign-out.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from pymongo.database import Database

from dynab.demo import install_demo
from services.clock import SystemClock
from services.experiments import Status
from services.gateway.cache import TtlCache
from services.gateway.recorder import GatewayRecorder
from services.gateway.server import HttpLimits, SelectorGateway
from services.mongo.embedded import EmbeddedMongo
from services.mongo.repository import MongoStore
from services.serving.config_cache import ConfigurationCache
from services.serving.observability import ListLog
from services.serving.service import SelectorService
from services.serving.settings import ServingSettings
from tests.browser.helpers import launch, new_page, running_console, settle, sign_in

pytestmark = pytest.mark.browser

PASSWORD = "flows-operator-pw"
SIM_EPOCH = "2031-03-01T12:00:00"
REFRESH_SECONDS = 1.0


@pytest.fixture
def console_url(
    tmp_path: Path, mongo_server: EmbeddedMongo, mongo_db: Database, store: MongoStore
) -> Iterator[str]:
    """The console on the demo data and on an accelerated demo clock, as ``dynab run`` starts it."""
    install_demo(store)
    clock = {
        "DYNAB_SIM_EPOCH": SIM_EPOCH,
        "DYNAB_REAL_EPOCH": repr(time.time()),
        "DYNAB_CLOCK_SPEED": "60",
    }
    users = {"olivia": (PASSWORD, "operator")}
    with running_console(tmp_path, mongo_server.uri, mongo_db.name, users, clock) as url:
        yield url


@pytest.fixture
def gateway_port(mongo_db: Database) -> Iterator[int]:
    """The local gateway on the same database, its configuration refreshed every second."""
    clock = SystemClock()
    store = MongoStore(mongo_db, clock)
    recorder = GatewayRecorder(None, clock)
    settings = ServingSettings(refresh_seconds=REFRESH_SECONDS)
    cache = ConfigurationCache(store, clock, refresh_seconds=REFRESH_SECONDS)
    service = SelectorService(cache, clock, ListLog(), settings, np.random.default_rng(3))
    service.log = recorder
    answers: TtlCache = TtlCache(clock, ttl_seconds=1, max_entries=100)
    server = SelectorGateway(("127.0.0.1", 0), service, answers, recorder, HttpLimits(threads=2))
    server.start_background()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def _select(port: int, member: str) -> dict:
    url = f"http://127.0.0.1:{port}/select?member_id={member}&area_code=MAIN"
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.loads(resp.read())


def _open_experiments(page) -> None:
    page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name="Experiments").click()
    settle(page)


def _choose(page, label: str, option: str) -> None:
    page.get_by_label(label).last.click()  # the select box opens its list
    page.get_by_role("option", name=option, exact=True).click()


def test_stop_with_promotion_through_the_ui_until_the_gateway_serves_it(
    console_url: str, store: MongoStore, gateway_port: int
) -> None:
    from playwright.sync_api import expect, sync_playwright

    before = _select(gateway_port, "m-0")
    assert before["experiment_id"] == "EXP-01"
    with sync_playwright() as p:
        browser = launch(p)
        page = new_page(browser)
        page.goto(console_url)
        settle(page)
        sign_in(page, "olivia", PASSWORD)
        _open_experiments(page)  # EXP-01 (MAIN) is the first experiment listed
        _choose(page, "Action", "stop")
        _choose(page, "Promoted model", "EXP-01-NCF-01")
        page.get_by_text("I confirm this change to EXP-01").click()
        page.get_by_role("button", name="Apply").click()
        expect(
            page.get_by_text(
                "EXP-01 is now stopped (by olivia); MAIN now serves EXP-01-NCF-01 by default."
            )
        ).to_be_visible()
        browser.close()

    assert store.get_experiment("EXP-01").status is Status.STOPPED
    assert store.get_area("MAIN").default_model == "EXP-01-NCF-01"
    assert [e.action for e in store.audit_history("EXP-01")][-2:] == ["stop", "promote"]
    time.sleep(REFRESH_SECONDS + 1.5)  # the selector's refresh, then the 1 s answer cache
    answers = [_select(gateway_port, f"m-{i}") for i in range(10)]
    assert {(a["model_code"], a["reason"]) for a in answers} == {("EXP-01-NCF-01", "default")}


def test_the_confirmation_is_cleared_after_apply(console_url: str, store: MongoStore) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = launch(p)
        page = new_page(browser)
        page.goto(console_url)
        settle(page)
        sign_in(page, "olivia", PASSWORD)
        _open_experiments(page)
        box = page.get_by_role("checkbox", name="I confirm this change to EXP-01")
        _choose(page, "Action", "pause")
        page.get_by_text("I confirm this change to EXP-01").click()
        expect(box).to_be_checked()
        page.get_by_role("button", name="Apply").click()
        expect(page.get_by_text("EXP-01 is now paused (by olivia).")).to_be_visible()
        settle(page)
        expect(box).not_to_be_checked()
        # A second click on Apply (the next step is resume) changes nothing without confirming.
        page.get_by_role("button", name="Apply").click()
        expect(page.get_by_text("Tick the confirmation box to apply the change.")).to_be_visible()
        browser.close()
    assert store.get_experiment("EXP-01").status is Status.PAUSED


def test_the_sidebar_shows_the_demo_clock_and_starts_stamp_it(
    console_url: str, store: MongoStore
) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = launch(p)
        page = new_page(browser)
        page.goto(console_url)
        settle(page)
        sign_in(page, "olivia", PASSWORD)
        sidebar = page.locator('[data-testid="stSidebar"]')
        expect(sidebar.get_by_text("demo clock, ×60", exact=True)).to_have_count(1)
        _open_experiments(page)
        _choose(page, "Action", "pause")
        page.get_by_text("I confirm this change to EXP-01").click()
        page.get_by_role("button", name="Apply").click()
        expect(page.get_by_text("EXP-01 is now paused (by olivia).")).to_be_visible()
        browser.close()
    paused = store.audit_history("EXP-01")[-1]
    assert paused.action == "pause"
    assert paused.at.year == 2031  # simulated time, not the wall clock


def test_a_deep_link_opens_its_page_after_the_sign_in(console_url: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = launch(p)
        for path, heading in [("overview", "Overview"), ("experiments", "Experiments")]:
            page = new_page(browser)
            page.goto(f"{console_url}/{path}")
            settle(page)
            expect(page.get_by_role("heading", name="dynab console")).to_be_visible()
            expect(page.get_by_text("Page not found")).to_have_count(0)
            page.get_by_label("User name", exact=True).fill("olivia")
            page.get_by_label("Password", exact=True).fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
            expect(page.get_by_text("Page not found")).to_have_count(0)
            page.close()
        browser.close()


def test_a_reload_keeps_the_user_and_a_sign_out_ends_it_everywhere(console_url: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = launch(p)
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        first = context.new_page()
        first.set_default_timeout(60_000)
        first.goto(console_url)
        settle(first)
        sign_in(first, "olivia", PASSWORD)
        settle(first)
        first.reload()
        settle(first)
        expect(first.get_by_role("heading", name="Overview", exact=True)).to_be_visible()
        expect(first.get_by_text("Signed in as olivia")).to_be_visible()

        second = context.new_page()  # another tab of the same browser
        second.set_default_timeout(60_000)
        second.goto(f"{console_url}/experiments")
        settle(second)
        expect(second.get_by_role("heading", name="Experiments", exact=True)).to_be_visible()

        first.get_by_role("button", name="Sign out").click()
        expect(first.get_by_role("heading", name="dynab console")).to_be_visible()
        settle(first)
        second.reload()
        settle(second)
        expect(second.get_by_role("heading", name="dynab console")).to_be_visible()
        expect(second.get_by_text("Signed in as olivia")).to_have_count(0)
        browser.close()
