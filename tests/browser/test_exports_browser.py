"""Export buttons in Chromium: each produces a file (a download event with content)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser.helpers import launch, new_page, open_page, sign_in
from tests.browser.test_console_browser import PASSWORD, console_url  # noqa: F401

pytestmark = pytest.mark.browser


def _download(page, name: str, tmp_path: Path) -> bytes:
    with page.expect_download(timeout=60_000) as info:
        page.locator('[data-testid="stDownloadButton"] button', has_text=name).first.click()
    target = tmp_path / info.value.suggested_filename
    info.value.save_as(target)
    return target.read_bytes()


def test_winners_exports_report_table_and_chart(console_url: str, tmp_path: Path) -> None:  # noqa: F811
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch(p)
        page = new_page(browser)
        page.goto(console_url)
        sign_in(page, "olivia", PASSWORD)
        open_page(page, "Winners")
        report = _download(page, "Decision report (Markdown)", tmp_path).decode()
        assert report.startswith("#") and "EXP-" in report
        table = _download(page, "CSV", tmp_path).decode()
        assert table.splitlines()[0].startswith("Model,Role,")
        png = _download(page, "PNG", tmp_path)
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        svg = _download(page, "SVG", tmp_path).decode()
        assert "<svg" in svg
        browser.close()
