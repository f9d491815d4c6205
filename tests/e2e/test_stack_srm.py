"""The demo stack's own traffic passes the SRM check on its assignment unit.

Demo traffic (the generator's repeat visitors) goes through the local gateway and its answer
cache for six simulated hours; the impressions in the lake are counted per hour, model and batch
the way the parameter job counts them (impressions per batch, each member's first impression),
and ``experiment_srm`` checks both demo experiments: the static DETAIL test on members, the
dynamic MAIN test (draw mode, in warm-up without the job) on impressions. Counting the static
test's impressions instead flags it within hours on this traffic (the alarm the demo used to
raise); that contrast is measured in ``benchmarks/bench_srm.py``, not asserted here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dynab.stack import Stack, StackOptions
from services.ops.split_check import experiment_srm
from tests.lake import hourly_rows

pytestmark = pytest.mark.slow


def test_six_demo_hours_raise_no_srm_alarm(tmp_path: Path) -> None:
    options = StackOptions(
        data_dir=tmp_path, speed=3600, requests_per_hour=3000, console=False, job=False, seed=21
    )
    stack = Stack(options).start()
    try:
        assert stack.store is not None
        experiments = {e: stack.store.get_experiment(e) for e in ("EXP-01", "EXP-02")}
        stack.wait_for(hours=6, timeout=300)
    finally:
        stack.stop()
    assert stack.hours_done >= 6
    for experiment_id, unit in (("EXP-01", "draws"), ("EXP-02", "members")):
        check = experiment_srm(
            experiments[experiment_id], hourly_rows(tmp_path / "lake", experiment_id)
        )
        assert check.unit == unit
        assert check.total > 2000 and check.excluded == 0
        assert not check.mismatch, check
