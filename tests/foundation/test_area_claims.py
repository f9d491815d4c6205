"""Area claims survive a process killed half-way through a start or a stop.

A real process is stopped at an injected step (a wrapper around one repository method that
announces the step and waits on stdin), then either SIGKILLed or let go. The embedded MongoDB is
the real server; only the pause is injected.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from datetime import datetime, timedelta

import pytest

from services.clock import FixedClock
from services.exceptions import AreaBusyError, StaleVersionError
from services.experiments import Status
from services.mongo import schema
from services.mongo.repository import CLAIM_GRACE, MongoStore
from tests.conftest import ROOT
from tests.foundation.factories import area, experiment

T0 = datetime(2026, 11, 28, 9, 0, 0)

# Runs one lifecycle action in a child process and pauses at the step named by argv[4]: the
# wrapped method prints "AT <step>" and waits for a line on stdin before going on.
CHILD = r"""
import sys
from datetime import datetime
from services.clock import FixedClock
from services.mongo.repository import MongoStore, connect

uri, db_name, action, step, exp_id, version = sys.argv[1:7]
store = MongoStore(connect(uri, db_name=db_name), FixedClock(datetime(2026, 11, 28, 9)))
original = getattr(MongoStore, step)

def paused(self, *args, **kwargs):
    if step == "_fence_draft":  # pause after the fence, before the takeover
        result = original(self, *args, **kwargs)
        print("AT", step, flush=True)
        sys.stdin.readline()
        return result
    print("AT", step, flush=True)
    sys.stdin.readline()
    return original(self, *args, **kwargs)

setattr(MongoStore, step, paused)
try:
    store.apply_action(exp_id, action, expected_version=int(version), by="child")
    print("DONE", flush=True)
except Exception as exc:
    print("FAILED", type(exc).__name__, flush=True)
"""


class Child:
    """A child process running ``action`` on ``exp_id`` that pauses at ``step``."""

    def __init__(self, store: MongoStore, action: str, step: str, exp_id: str, version: int):
        db = store.db
        host, port = db.client.address
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                CHILD,
                f"mongodb://{host}:{port}",
                db.name,
                action,
                step,
                exp_id,
                str(version),
            ],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def wait_for_step(self) -> str:
        line = self.proc.stdout.readline().strip()
        assert line.startswith("AT "), f"child did not reach its step: {line!r}"
        return line

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        assert self.proc.wait(timeout=10) == -signal.SIGKILL

    def go_on(self) -> str:
        out, _ = self.proc.communicate("go\n", timeout=30)
        return out.strip()


@pytest.fixture
def claims(mongo_db) -> MongoStore:
    repo = MongoStore(mongo_db, FixedClock(T0))
    repo.ensure_indexes()
    repo.save_area(area("MAIN"))
    for exp_id in ("EXP-01", "EXP-02"):
        repo.create_experiment(experiment(experiment_id=exp_id), by="a")
    return repo


def _raw_claim(store: MongoStore) -> str | None:
    return store.db[schema.AREAS].find_one({"_id": "MAIN"})["active_experiment_id"]


def _after_grace(store: MongoStore) -> None:
    store.clock.advance(seconds=CLAIM_GRACE.total_seconds() + 1)


def test_a_start_killed_after_claiming_leaves_no_stuck_area(claims: MongoStore):
    # GIVEN a start killed between claiming the area and writing the experiment
    child = Child(claims, "start", "_write_versioned", "EXP-01", 1)
    child.wait_for_step()
    child.kill()
    assert _raw_claim(claims) == "EXP-01"
    assert claims.get_experiment("EXP-01").status is Status.DRAFT
    # THEN readers see no active experiment (the selector serves the default)
    assert claims.get_area("MAIN").active_experiment_id is None
    assert claims.active_experiment("MAIN") is None
    # and while the claim is young it still counts as a start in progress
    with pytest.raises(AreaBusyError):
        claims.apply_action("EXP-02", "start", expected_version=1, by="ops")
    # WHEN the grace has passed, another start takes the area over
    _after_grace(claims)
    started = claims.apply_action("EXP-02", "start", expected_version=1, by="ops")
    assert started.status is Status.RUNNING
    assert claims.get_area("MAIN").active_experiment_id == "EXP-02"
    # the dead start's draft was fenced (its version moved) and the voiding is audited
    assert claims.get_experiment("EXP-01").version == 2
    assert [e.action for e in claims.audit_history("EXP-01")] == ["create", "void-claim"]


def test_the_same_experiment_can_retry_its_killed_start_at_once(claims: MongoStore):
    child = Child(claims, "start", "_write_versioned", "EXP-01", 1)
    child.wait_for_step()
    child.kill()
    claims.apply_action("EXP-01", "start", expected_version=1, by="ops")
    assert claims.active_experiment("MAIN").experiment_id == "EXP-01"


def test_a_stop_killed_before_releasing_leaves_no_stuck_area(claims: MongoStore):
    claims.apply_action("EXP-01", "start", expected_version=1, by="ops")
    # GIVEN a stop killed between writing "stopped" and releasing the area
    child = Child(claims, "stop", "_release_area", "EXP-01", 2)
    child.wait_for_step()
    child.kill()
    assert _raw_claim(claims) == "EXP-01"
    assert claims.get_experiment("EXP-01").status is Status.STOPPED
    assert claims.get_area("MAIN").active_experiment_id is None
    assert [a.active_experiment_id for a in claims.list_areas()] == [None]
    # WHEN the next start comes, at once (a stopped holder is void, no grace needed)
    assert claims.apply_action("EXP-02", "start", expected_version=1, by="ops").is_active
    assert claims.get_area("MAIN").active_experiment_id == "EXP-02"


def test_a_takeover_killed_after_fencing_is_finished_by_the_next_start(claims: MongoStore):
    claims.create_experiment(experiment(experiment_id="EXP-03"), by="a")
    first = Child(claims, "start", "_write_versioned", "EXP-01", 1)
    first.wait_for_step()
    first.kill()
    _after_grace(claims)
    # the children run on T0: date the dead claim an hour back so it is old for them too
    claims.db[schema.AREAS].update_one(
        {"_id": "MAIN"}, {"$set": {"claimed_at": (T0 - timedelta(hours=1)).isoformat()}}
    )
    second = Child(claims, "start", "_fence_draft", "EXP-02", 1)
    second.wait_for_step()
    second.kill()
    assert claims.get_experiment("EXP-01").version == 2  # fenced, not yet taken over
    assert claims.apply_action("EXP-03", "start", expected_version=1, by="ops").is_active
    assert [e.experiment_id for e in claims.list_experiments(statuses=[Status.RUNNING])] == [
        "EXP-03"
    ]


def test_a_slow_start_that_lost_its_claim_cannot_run_beside_the_new_one(claims: MongoStore):
    # GIVEN a start that is alive but stalled between claim and write past the grace
    child = Child(claims, "start", "_write_versioned", "EXP-01", 1)
    child.wait_for_step()
    _after_grace(claims)
    claims.apply_action("EXP-02", "start", expected_version=1, by="ops")
    # WHEN the stalled start goes on
    assert child.go_on().endswith(f"FAILED {StaleVersionError.__name__}")
    # THEN its versioned write was refused and the area still has exactly one running test
    running = claims.list_experiments(statuses=[Status.RUNNING])
    assert [e.experiment_id for e in running] == ["EXP-02"]
    assert claims.get_area("MAIN").active_experiment_id == "EXP-02"


def test_six_concurrent_starts_over_a_dead_claim_let_exactly_one_win(claims: MongoStore):
    child = Child(claims, "start", "_write_versioned", "EXP-01", 1)
    child.wait_for_step()
    child.kill()
    _after_grace(claims)
    ids = [f"EXP-{i:02d}" for i in range(3, 9)]
    for i in ids:
        claims.create_experiment(experiment(experiment_id=i), by="a")
    outcomes: dict[str, str] = {}
    barrier = threading.Barrier(len(ids))

    def start(exp_id: str) -> None:
        barrier.wait()
        try:
            claims.apply_action(exp_id, "start", expected_version=1, by="a")
            outcomes[exp_id] = "won"
        except AreaBusyError:
            outcomes[exp_id] = "busy"

    threads = [threading.Thread(target=start, args=(i,)) for i in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [i for i, o in outcomes.items() if o == "won"]
    assert len(winners) == 1, outcomes
    assert len(outcomes) == len(ids)
    assert claims.get_area("MAIN").active_experiment_id == winners[0]
    running = claims.list_experiments(statuses=[Status.RUNNING])
    assert [e.experiment_id for e in running] == winners
