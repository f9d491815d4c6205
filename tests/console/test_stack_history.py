"""``dynab run``'s stack writes the demo's three days of history, as ``dynab demo-data`` does,
keeps it while the parameter job adds the live hours, and the Live CTR page charts all of it.
The stack's selector reads its settings from the environment, as ``dynab gateway`` does."""

from __future__ import annotations

from datetime import timedelta

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from dynab.stack import Stack, StackOptions
from services.clock import floor_hour
from tests.console.conftest import APP, frame

pytestmark = [pytest.mark.slow, pytest.mark.spark]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory):
    with pytest.MonkeyPatch.context() as env:
        env.setenv("DYNAB_STORE_RETRY_SECONDS", "7")
        env.setenv("DYNAB_CONFIG_REFRESH_SECONDS", "11")
        options = StackOptions(
            data_dir=tmp_path_factory.mktemp("stack"),
            speed=1800,  # a simulated hour every 2 s
            requests_per_hour=600,
            members=500,
            seed=4,
            console=False,
            history_days=3,
        )
        running = Stack(options).start()
    try:
        running.wait_for(batches=2, timeout=240)
        yield running
    finally:
        running.stop()


def test_the_stack_writes_three_days_of_history_that_the_charts_show(
    stack: Stack, auth_secrets: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert stack.store is not None and stack.clock is not None and stack.gateway is not None
    assert stack.batches_done >= 2, stack.errors
    start = floor_hour(stack.clock.sim_epoch)
    history = [start - timedelta(hours=h) for h in range(72, 0, -1)]
    for experiment_id in ("EXP-01", "EXP-02"):
        hours = {m.hour for m in stack.store.hourly_metrics(experiment_id)}
        assert set(history) <= hours, experiment_id  # the synthetic past, kept
        assert any(h >= start for h in hours), experiment_id  # the job's live hours
        assert min(hours) == history[0]
    batches = stack.store.parameter_history("EXP-01")
    assert batches[0].window_end <= start < batches[-1].window_end

    # The Live CTR page on the stack's database charts the three days and the live hours.
    monkeypatch.setenv("MONGODB_URI", stack.uri)
    monkeypatch.delenv("MONGODB_DB", raising=False)
    st.cache_data.clear()
    st.cache_resource.clear()
    try:
        at = AppTest.from_file(APP, default_timeout=60)
        at.secrets["auth"] = auth_secrets
        at.session_state["auth_user"] = {"name": "olivia", "role": "operator"}
        at.session_state["dynab_now"] = stack.clock.now()
        at.run()
        at.switch_page("views/live_ctr.py")
        at.run()
        assert not at.exception
        assert len(at.get("vega_lite_chart")) == 3
        hourly = frame(at, "hour")
        shown_hours = set(hourly["hour"])
        assert {h for h in history if h.date() >= (start - timedelta(days=6)).date()} <= set(
            shown_hours
        )
        assert max(shown_hours) >= start
    finally:
        st.cache_data.clear()
        st.cache_resource.clear()


def test_the_stack_selector_reads_its_settings_from_the_environment(stack: Stack) -> None:
    assert stack.gateway is not None
    cache = stack.gateway.service.cache
    assert cache.retry == timedelta(seconds=7)
    assert cache.refresh == timedelta(seconds=11)
