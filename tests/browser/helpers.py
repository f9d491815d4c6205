"""What the browser tests share: the console under ``streamlit run`` on a free port, Debian's
Chromium under Playwright, the sign-in, the menu."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from console.auth import hash_password
from tests.conftest import skip_or_fail

ROOT = Path(__file__).resolve().parents[2]
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def users_secrets(users: Mapping[str, tuple[str, str]]) -> str:
    """Streamlit secrets (TOML) of console users: ``{name: (password, role)}``."""
    # Four bcrypt rounds keep the test fast; the console accepts any cost.
    return "".join(
        f'[auth.users.{name}]\npassword_hash = "{hash_password(password, 4)}"\nrole = "{role}"\n'
        for name, (password, role) in users.items()
    )


@contextmanager
def running_console(
    folder: Path,
    mongo_uri: str,
    db_name: str,
    users: Mapping[str, tuple[str, str]],
    env: Mapping[str, str] | None = None,
) -> Iterator[str]:
    """``streamlit run console/app.py`` on a free port with these users; yields its URL.

    It runs in ``folder`` (so that no ./.streamlit/secrets.toml of the checkout is read) and logs
    to ``folder/console.log``; it is stopped on exit.
    """
    secrets = folder / "secrets.toml"
    secrets.write_text(users_secrets(users))
    port = free_port()
    log_path = folder / "console.log"
    log = log_path.open("wb")
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "streamlit", "run", str(ROOT / "console" / "app.py"),
            "--server.headless", "true",
            "--server.port", str(port),
            "--server.address", "127.0.0.1",
            "--browser.gatherUsageStats", "false",
            "--secrets.files", str(secrets),
        ],
        cwd=folder,
        env={**os.environ, "MONGODB_URI": mongo_uri, "MONGODB_DB": db_name, **(env or {})},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            if proc.poll() is not None:
                pytest.fail(f"streamlit exited: {log_path.read_text()}")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1) as resp:
                    if resp.read() == b"ok":
                        break
            except OSError:
                time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def settle(page: Any) -> None:
    """Wait until Streamlit has finished running the script (the status widget detaches)."""
    page.wait_for_load_state("networkidle")
    page.wait_for_selector('[data-testid="stStatusWidget"]', state="detached", timeout=60_000)
    page.wait_for_timeout(500)  # let charts paint; only a screenshot depends on it


def open_page(page: Any, title: str) -> None:
    """Open a page from the sidebar menu (a reload would start a new Streamlit session)."""
    page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name=title).click()
    settle(page)
