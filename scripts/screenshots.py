"""Screenshots of every console page after a day of demo traffic, as an analyst and an operator.

Run: .venv/bin/python scripts/screenshots.py [--hours 24] [--speed 300] [--out DIR]
(or ``make screenshots``). Needs Java (the parameter job) and Debian's Chromium.

Starts the embedded demo stack in a temporary folder (MongoDB, gateway, demo traffic, the
parameter job; three days of synthetic history as ``dynab run`` writes it) until ``--hours``
simulated hours of demo traffic have been served and the job has run a batch for each; then
restarts it on the same data with the console only (the demo clock at real-time pace), signs in
as ``analyst`` and as ``operator`` in headless Chromium and saves a PNG of every page,
``DIR/<user>-<nn>-<page>.png`` (default DIR: artifacts/screenshots/demo-24h), reduced to a
256-colour palette to keep it small. The parameter job must keep up with the demo clock (a batch
took ~10 s here), so the default speed is an hour every 12 s.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CHROMIUM = Path("/usr/bin/chromium")
#: The console's menu, in order (console/app.py's pages).
MENU = ("Overview", "Experiments", "Live CTR", "Winners", "Posteriors", "Operations", "Simulator")


def _say(message: str) -> None:
    print(f"screenshots: {message}", flush=True)


def _settle(page) -> None:  # type: ignore[no-untyped-def]
    """Wait until Streamlit has finished running the script, then let charts paint."""
    page.wait_for_load_state("networkidle")
    page.wait_for_selector('[data-testid="stStatusWidget"]', state="detached", timeout=120_000)
    page.wait_for_timeout(1500)


def _shrink(path: Path) -> None:
    """A 256-colour palette PNG: a page is flat colours and text, so it reads the same."""
    from PIL import Image

    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    small.save(path, optimize=True)


def shoot(url: str, users: dict[str, str], out: Path) -> list[Path]:
    """Sign in as each user and save every page; returns the files written."""
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=120_000)  # a page of the busy demo stack may take a while
    written: list[Path] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        )
        for user, password in users.items():
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.set_default_timeout(120_000)
            page.goto(url)
            _settle(page)
            page.get_by_label("User name", exact=True).fill(user)
            page.get_by_label("Password", exact=True).fill(password)
            page.get_by_role("button", name="Sign in").click()
            expect(page.get_by_role("heading", name="Overview", exact=True).first).to_be_visible()
            nav = page.locator('[data-testid="stSidebarNav"]')
            for i, title in enumerate(MENU, start=1):
                nav.get_by_role("link", name=title).click()
                # While a page reruns, Streamlit can show its previous elements (stale) beside
                # the new ones: two headings of the same name for a moment.
                expect(page.get_by_role("heading", name=title, exact=True).first).to_be_visible()
                _settle(page)
                errors = page.locator('[data-testid="stException"]').count()
                if errors:
                    _say(f"{user} / {title}: {errors} exception(s) on the page")
                target = out / f"{user}-{i:02d}-{title.lower().replace(' ', '_')}.png"
                # The page scrolls inside Streamlit's main container, not the document: grow
                # the window to the content's height so that the screenshot holds all of it.
                height = page.evaluate(
                    """() => Math.max(
                        document.body.scrollHeight,
                        ...[...document.querySelectorAll(
                            '[data-testid="stMain"], [data-testid="stMainBlockContainer"]'
                        )].map((e) => e.scrollHeight + 100))"""
                )
                page.set_viewport_size({"width": 1400, "height": min(max(900, height), 8000)})
                page.wait_for_timeout(1500)
                page.screenshot(path=str(target), full_page=True)
                page.set_viewport_size({"width": 1400, "height": 900})
                _shrink(target)
                written.append(target)
                _say(f"{target.relative_to(ROOT) if target.is_relative_to(ROOT) else target}")
            page.close()
        browser.close()
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=int, default=24, help="simulated hours of demo traffic")
    parser.add_argument(
        "--speed", type=float, default=300.0, help="simulated seconds per real second"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "artifacts" / "screenshots" / "demo-24h")
    args = parser.parse_args()
    if not CHROMIUM.exists():
        print("screenshots: needs Debian's chromium (apt-get install chromium)", file=sys.stderr)
        return 1

    from dynab.credentials import ensure_demo_credentials
    from dynab.stack import Stack, StackOptions

    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="dynab-screenshots-") as tmp:
        data_dir = Path(tmp)
        secrets, passwords = ensure_demo_credentials(data_dir / "console")
        # 1. A day of demo traffic and hourly batches, on the fast demo clock, console off.
        options = StackOptions(data_dir=data_dir, speed=args.speed, history_days=3, console=False)
        stack = Stack(options, say=_say).start()
        try:
            t0 = time.monotonic()
            while stack.hours_done < args.hours or stack.batches_done < args.hours:
                if not stack.healthy():
                    print("screenshots: " + "; ".join(stack.errors), file=sys.stderr)
                    return 1
                time.sleep(2)
            _say(
                f"{stack.hours_done} simulated hours served, {stack.batches_done} batches, "
                f"{stack.requests_sent:,} requests in {time.monotonic() - t0:.0f} s"
            )
        finally:
            stack.stop()
        # 2. The console on that data, the demo clock resumed at real-time pace (so that no
        # batch falls due meanwhile) and nothing else running: the pages as a day left them.
        options = StackOptions(
            data_dir=data_dir,
            speed=1.0,
            job=False,
            traffic=False,
            secrets_files=(secrets,),
        )
        stack = Stack(options, say=_say).start()
        try:
            url = f"http://127.0.0.1:{stack.console_port}"
            users = {"analyst": passwords["analyst"], "operator": passwords["operator"]}
            shoot(url, users, args.out)
        finally:
            stack.stop()
    _say(f"done; rerun: .venv/bin/python scripts/screenshots.py --hours {args.hours}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
