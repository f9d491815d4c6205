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

import time
from collections import defaultdict
from pathlib import Path

import pytest

from dynab.stack import Stack, StackOptions
from services.events import Event, parse_line
from services.exceptions import ValidationError
from services.ops.split_check import experiment_srm
from services.statistics.srm import UNKNOWN_BATCH

pytestmark = pytest.mark.slow


def hourly_rows(lake: Path, experiment_id: str) -> list[dict]:
    """Hourly documents of one experiment from the lake's impressions (duplicates dropped)."""
    events: dict[str, Event] = {}
    for path in lake.glob("dt=*/hour=*/part-*.jsonl"):
        for line in path.read_text().splitlines():
            try:
                event = parse_line(line)
            except ValidationError:
                continue  # the demo traffic writes some malformed lines on purpose
            if event.event_type == "impression" and event.experiment_id == experiment_id:
                events[event.event_id] = event
    impressions: dict[tuple, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    firsts: dict[tuple, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    seen: set[str] = set()
    views: dict[tuple, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    viewed: set[tuple] = set()
    for event in sorted(events.values(), key=lambda e: e.ts):
        key = (event.model_code, event.hour)
        batch = event.batch_id or UNKNOWN_BATCH
        impressions[key][batch] += 1
        if event.member_id not in seen:
            seen.add(event.member_id)
            firsts[key][batch] += 1
        # a draw: the member's first view under a batch, per hour
        draw = (event.member_id, batch, event.hour)
        if draw not in viewed:
            viewed.add(draw)
            views[key][batch] += 1
    return [
        {
            "experiment_id": experiment_id,
            "model_code": model,
            "hour": hour,
            "impressions_by_batch": dict(impressions[(model, hour)]),
            "first_members_by_batch": dict(firsts.get((model, hour), {})),
            "first_views_by_batch": dict(views.get((model, hour), {})),
        }
        for model, hour in impressions
    ]


def test_six_demo_hours_raise_no_srm_alarm(tmp_path: Path) -> None:
    options = StackOptions(
        data_dir=tmp_path, speed=3600, requests_per_hour=3000, console=False, job=False, seed=21
    )
    stack = Stack(options).start()
    try:
        assert stack.store is not None
        experiments = {e: stack.store.get_experiment(e) for e in ("EXP-01", "EXP-02")}
        deadline = time.monotonic() + 300
        while stack.hours_done < 6 and time.monotonic() < deadline:
            assert stack.healthy(), stack.errors
            time.sleep(0.5)
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
