"""The whole embedded stack, headless, on free ports: what ``dynab run`` starts.

MongoDB, the local gateway, demo traffic through the gateway, the parameter job on one live
SparkSession and the console run together on an accelerated clock (one simulated hour every
5 s) for several simulated hours. Then: the gateway serves, hourly metrics and parameter batches
appear, the dynamic test's traffic moves to the better model after warm-up, the static split
passes its sample-ratio check, and every console page renders in Debian's Chromium.

The dynamic test's models get true CTRs of 10 % and 4 % here (the demo's own 6.7 % / 5.8 % need
more simulated days than a test should take to separate reliably); the mechanism is the same.
"""

from __future__ import annotations

import json
import urllib.request
from collections import Counter
from pathlib import Path

import pytest

from dynab.credentials import ensure_demo_credentials
from dynab.demo import TRUE_RATES
from dynab.stack import Stack, StackOptions
from services.guardrails.rules import GuardrailRules
from services.statistics import srm_test
from tests.browser.helpers import MENU, launch, new_page, sign_in

pytestmark = [pytest.mark.slow, pytest.mark.spark, pytest.mark.browser]

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "artifacts" / "screenshots" / "e2e"
SPEED = 720.0  # simulated seconds per real second: an hour every 5 s
BETTER, WORSE = "EXP-01-APS002-01", "EXP-01-NCF-01"
CHART_PAGES = {"Live CTR", "Winners", "Posteriors", "Operations", "Simulator"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory):
    data_dir = tmp_path_factory.mktemp("stack")
    secrets, passwords = ensure_demo_credentials(data_dir / "console")
    rates = {**TRUE_RATES, BETTER: (0.10, 0.006), WORSE: (0.04, 0.002)}
    options = StackOptions(
        data_dir=data_dir,
        speed=SPEED,
        requests_per_hour=1600,
        members=5000,
        seed=11,
        demo_overrides={
            "EXP-01": {
                "warmup_hours": 2,
                "warmup_min_impressions": 200,
                # 4 % against 10 % is this test's design, not a broken model: the CTR-collapse
                # guardrail (30 % below the control) would rightly pause the experiment.
                "guardrails": GuardrailRules(ctr_margin=0.8),
            }
        },
        true_rates=rates,
        secrets_files=(secrets,),
    )
    running = Stack(options).start()
    running.passwords = passwords  # type: ignore[attr-defined]
    try:
        running.wait_for(batches=7, timeout=400, poll=1)
        yield running
    finally:
        running.stop()


def test_the_gateway_serves_with_its_cache(stack: Stack) -> None:
    assert stack.gateway is not None
    url = f"{stack.gateway.url}?member_id=E2E-1&area_code=DETAIL"
    answers = []
    for _ in range(2):
        with urllib.request.urlopen(url, timeout=10) as resp:
            answers.append((resp.headers["X-Cache"], json.loads(resp.read())))
    assert [a[0] for a in answers] == ["Miss", "Hit"]
    assert answers[0][1]["experiment_id"] == "EXP-02"
    assert answers[0][1]["reason"] == "static"
    assert stack.requests_sent > 1000


def test_hourly_metrics_and_parameter_batches_appear(stack: Stack) -> None:
    assert stack.store is not None and stack.batches_done >= 7
    for exp_id in ("EXP-01", "EXP-02"):
        rows = stack.store.hourly_metrics(exp_id)
        assert len({r.hour for r in rows}) >= 5
        assert sum(r.impressions for r in rows) > 1000
        assert sum(r.clicks for r in rows) > 20
    batches = stack.store.parameter_history("EXP-01")
    assert len(batches) >= 5
    flags = [b.warmup for b in batches]
    # Warm-up batches (if the job ran before warm-up ended: timing-dependent) come first.
    assert not flags[-1] and flags == sorted(flags, reverse=True)


def test_dynamic_traffic_moves_to_the_better_model_after_warm_up(stack: Stack) -> None:
    assert stack.store is not None
    last = stack.store.parameter_history("EXP-01")[-1]
    weights = {a.model_code: a.weight for a in last.arms}
    assert weights[BETTER] > 0.8
    served = Counter(
        (d["model_code"], d["reason"])
        for d in stack.db["selector_logs"].find({"experiment_id": "EXP-01"})
    )
    assert served[(BETTER, "bts")] > 2 * served[(WORSE, "bts")]
    warm = served[(BETTER, "warmup")], served[(WORSE, "warmup")]
    assert min(warm) > 0.4 * sum(warm)  # an even split while warming up


def test_the_static_split_stays_within_its_srm_bounds(stack: Stack) -> None:
    # The member is the unit of the static split: count members, not their repeat visits.
    members: dict[str, set[str]] = {"LF001-01": set(), "NCF-02": set()}
    for d in stack.db["selector_logs"].find({"experiment_id": "EXP-02"}):
        members[d["model_code"]].add(d["member_hash"])
    observed = [len(members["LF001-01"]), len(members["NCF-02"])]
    assert sum(observed) > 500
    assert not srm_test(observed, [0.5, 0.5]).mismatch


def test_every_console_page_renders_in_a_browser(stack: Stack) -> None:
    from playwright.sync_api import expect, sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    url = f"http://127.0.0.1:{stack.console_port}"
    with sync_playwright() as p:
        browser = launch(p)
        page = new_page(browser)
        page.goto(url)
        sign_in(page, "analyst", stack.passwords["analyst"])  # type: ignore[attr-defined]
        nav = page.locator('[data-testid="stSidebarNav"]')
        for title in MENU:
            nav.get_by_role("link", name=title).click()
            expect(page.get_by_role("heading", name=title, exact=True)).to_be_visible()
            if title in CHART_PAGES:  # the stack's own data is drawn
                charts = page.locator('[data-testid="stVegaLiteChart"]')
                expect(charts.first).to_be_visible()
                expect(charts.first.locator("canvas, svg").first).to_be_visible()
            page.locator('[data-testid="stStatusWidget"]').wait_for(state="detached")
            expect(page.locator('[data-testid="stException"]')).to_have_count(0)
            tables = page.locator('[data-testid="stDataFrame"]')
            if tables.count():
                expect(tables.first.locator("canvas").first).to_be_visible()
            page.wait_for_timeout(1000)  # let charts and tables finish drawing for the screenshot
            page.screenshot(
                path=str(SHOTS / f"{title.lower().replace(' ', '_')}.png"), full_page=True
            )
        browser.close()
