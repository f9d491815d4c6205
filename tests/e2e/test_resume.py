"""Stopping the embedded stack keeps what it served, and a restart resumes where it stopped."""

from __future__ import annotations

import signal
import time
from datetime import timedelta
from pathlib import Path

import pytest

from dynab.stack import Stack, StackFailed, StackOptions
from tests.lake import lake_impressions

pytestmark = pytest.mark.slow


def _impressions(lake: Path) -> set[str]:
    return {event.event_id for event in lake_impressions(lake)}


def test_a_stop_mid_hour_keeps_the_served_views_and_a_restart_resumes(tmp_path: Path) -> None:
    options = StackOptions(
        data_dir=tmp_path, speed=720, requests_per_hour=1200, console=False, job=False, seed=3
    )
    messages: list[str] = []
    first = Stack(options, say=messages.append).start()
    try:
        time.sleep(3)  # about 36 simulated minutes: the stop lands mid-hour
    finally:
        first.stop()
    assert first.clock is not None
    stopped_at = first.clock.now()
    sent = first.requests_sent
    served = _impressions(tmp_path / "lake")
    assert sent > 100
    # every page view answered by an experiment before the stop is in the lake
    assert len(served) >= 0.95 * sent

    second = Stack(options, say=messages.append).start()
    try:
        assert second.clock is not None
        resumed_from = second.clock.sim_epoch
        assert any("created nothing new" in m for m in messages)
        # a loaded machine may take a while to send the second run's first views
        deadline = time.monotonic() + 60
        while second.requests_sent < 20 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert second.requests_sent >= 20
    finally:
        second.stop()
    # the simulated time continued from the stop, instead of jumping by the time it was off
    assert abs(resumed_from - stopped_at) < timedelta(minutes=5)
    after = _impressions(tmp_path / "lake")
    assert served < after  # the second run added views and kept the first run's
    # the second run's views have ids of their own (a regenerated hour numbers them as before)
    assert len(after - served) >= 0.95 * second.requests_sent


def test_a_killed_database_stops_the_wait_with_the_reason(tmp_path: Path) -> None:
    options = StackOptions(
        data_dir=tmp_path, speed=720, requests_per_hour=1200, console=False, job=False, seed=5
    )
    stack = Stack(options, say=lambda message: None).start()
    try:
        # a short wait that runs out returns False; the stack is still healthy
        assert stack.wait_for(hours=1000, timeout=0.5, poll=0.1) is False
        assert stack.healthy()
        assert stack.mongo is not None and stack.mongo.process is not None
        stack.mongo.process.send_signal(signal.SIGKILL)
        with pytest.raises(StackFailed, match="MongoDB server exited"):
            stack.wait_for(hours=1000, timeout=60, poll=0.1)
    finally:
        stack.stop()
