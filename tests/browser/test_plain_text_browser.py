"""In a real browser: a hostile experiment name is shown as text and fetches nothing, and the
sign-in's fields carry the autocomplete hints password managers recognise."""

from __future__ import annotations

import pytest

from services.mongo.repository import MongoStore
from tests.browser.helpers import launch, new_page, open_page, settle, sign_in
from tests.browser.test_console_browser import PASSWORD, console_url
from tests.foundation.factories import experiment

pytestmark = pytest.mark.browser
__all__ = ["console_url"]  # the fixture, shared with the main browser test

EVIL = "![x](http://127.0.0.1:9/x.png) **bold** <img src=x>"


def test_a_hostile_name_is_text_and_nothing_is_fetched(console_url: str, store: MongoStore) -> None:
    from playwright.sync_api import expect, sync_playwright

    # AAA-66 sorts first, so the Experiments page opens on it
    store.create_experiment(
        experiment(experiment_id="AAA-66", name=EVIL, area_code="CART"), by=EVIL
    )
    with sync_playwright() as p:
        browser = launch(p)
        page = new_page(browser)
        fetched: list[str] = []
        page.on("request", lambda r: fetched.append(r.url) if ":9/" in r.url else None)
        page.goto(console_url)
        settle(page)
        # st.form renders a form container (a <div>, not an HTML <form>); the fields carry the
        # autocomplete hints password managers look for.
        form = page.locator('[data-testid="stForm"]')
        expect(form.locator('input[autocomplete="username"]')).to_have_count(1)
        expect(
            form.locator('input[type="password"][autocomplete="current-password"]')
        ).to_have_count(1)
        sign_in(page, "olivia", PASSWORD)
        open_page(page, "Experiments")
        heading = page.get_by_role("heading", name=f"AAA-66: {EVIL}")
        expect(heading).to_be_visible()
        expect(page.locator('[data-testid="stMain"] img[src*="127.0.0.1:9"]')).to_have_count(0)
        expect(page.locator('[data-testid="stMain"] img[src="x"]')).to_have_count(0)
        expect(heading.locator("strong")).to_have_count(0)
        browser.close()
    assert fetched == []
