"""What the browser tests share: Debian's Chromium under Playwright, the sign-in, the menu."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.conftest import skip_or_fail

CHROMIUM = Path("/usr/bin/chromium")

#: The console's menu, in order (console/app.py's PAGES).
MENU = (
    "Overview",
    "Experiments",
    "Live CTR",
    "Winners",
    "Posteriors",
    "Operations",
    "Simulator",
)


def launch(playwright: Any) -> Any:
    """Headless Debian Chromium (never a downloaded browser); fails in CI when it is missing."""
    if not CHROMIUM.exists():
        skip_or_fail("needs Debian's chromium (apt-get install chromium)")
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM),
        headless=True,
        args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
    )


def new_page(browser: Any) -> Any:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(60_000)
    return page


def sign_in(page: Any, user: str, password: str) -> None:
    """Fill the console's sign-in form and wait for the Overview."""
    from playwright.sync_api import expect

    page.get_by_label("User name", exact=True).fill(user)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Overview", exact=True)).to_be_visible()
