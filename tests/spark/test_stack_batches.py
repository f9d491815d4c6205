"""The embedded stack re-runs, on start, the batches a stop cut short."""

from __future__ import annotations

from datetime import datetime

from dynab.stack import Stack, StackOptions
from services.events.layout import partition_dir


def test_pending_batches_are_the_unfinished_and_unprocessed_hours(store, tmp_path):
    # GIVEN 05:00 processed, 06:00 cut short by a stop, 07:00 logged but never processed,
    # 08:00 with no logs at all (the stack was down) and 09:00 processed again after the restart
    hour = datetime(2026, 11, 28, 5)
    store.save_job_hours(
        [
            {"hour": hour, "status": "done", "batch": "20261128T0600"},
            {"hour": hour.replace(hour=6), "status": "running", "batch": "20261128T0700"},
            {"hour": hour.replace(hour=9), "status": "done", "batch": "20261128T1000"},
        ]
    )
    for h in (5, 6, 7, 9):
        (tmp_path / "lake" / partition_dir(hour.replace(hour=h))).mkdir(parents=True)
    stack = Stack(StackOptions(data_dir=tmp_path, console=False, traffic=False))
    stack.store = store

    # WHEN the stack starts again at 10:30
    pending = stack.pending_batches(datetime(2026, 11, 28, 10, 30))

    # THEN it re-runs the batches ending at 07:00 and 08:00, in order, and nothing else
    assert pending == [datetime(2026, 11, 28, 7), datetime(2026, 11, 28, 8)]


def test_a_stack_that_never_ran_the_job_has_nothing_pending(store, tmp_path):
    stack = Stack(StackOptions(data_dir=tmp_path, console=False, traffic=False))
    stack.store = store
    assert stack.pending_batches(datetime(2026, 11, 28, 10)) == []
