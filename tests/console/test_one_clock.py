"""One clock: on the demo's accelerated clock the console stamps what it writes in simulated time,
like the selector and the parameter job, and says once, in the sidebar, which clock runs."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import pytest

from services.experiments import Status
from tests.console.test_experiments import act, with_draft  # noqa: F401 (fixture)

SIM_EPOCH = datetime(2031, 3, 1, 12, 0, 0)


@pytest.fixture
def demo_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment ``dynab run`` gives the console (see dynab/stack.py)."""
    monkeypatch.setenv("DYNAB_SIM_EPOCH", SIM_EPOCH.isoformat())
    monkeypatch.setenv("DYNAB_REAL_EPOCH", repr(time.time()))
    monkeypatch.setenv("DYNAB_CLOCK_SPEED", "60")


def test_starting_from_the_console_stamps_simulated_time(
    demo_clock: None,
    make_app,
    with_draft,  # noqa: F811
) -> None:
    at = make_app(page="experiments")
    del at.session_state["dynab_now"]  # no pinned time: the console's own clock
    act(at, "EXP-03", "start")
    started = with_draft.get_experiment("EXP-03")
    assert started.status is Status.RUNNING
    # Simulated time, years away from the wall clock, a few (x60) seconds after the epoch.
    assert SIM_EPOCH <= started.started_at < SIM_EPOCH + timedelta(hours=1)
    entry = with_draft.audit_history("EXP-03")[-1]
    assert entry.action == "start"
    assert SIM_EPOCH <= entry.at < SIM_EPOCH + timedelta(hours=1)


def test_the_sidebar_names_the_demo_clock_once(demo_clock: None, make_app, demo) -> None:
    at = make_app(page="overview")
    assert [c.value for c in at.sidebar.caption].count("demo clock, ×60") == 1


def test_wall_clock_consoles_say_nothing_about_a_clock(make_app, demo) -> None:
    at = make_app(page="overview")
    assert not [c.value for c in at.sidebar.caption if "clock" in c.value]
