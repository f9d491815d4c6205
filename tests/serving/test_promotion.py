"""Promotion: a stop that names a promoted model makes it the area's default model (audited),
and the local gateway serves it over HTTP once the selector's configuration refresh has passed.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator

import pytest

from services.clock import FixedClock
from services.exceptions import ValidationError
from services.gateway.cache import TtlCache
from services.gateway.recorder import GatewayRecorder
from services.gateway.server import HttpLimits, SelectorGateway
from services.lifecycle import Action
from services.mongo.repository import MongoStore
from tests.serving.conftest import MAIN_DEFAULT, make_service, start_experiment

REFRESH_SECONDS = 2.0
PROMOTED = "EXP-01-NCF-01"


@pytest.fixture
def gateway_port(store: MongoStore, clock: FixedClock) -> Iterator[int]:
    recorder = GatewayRecorder(None, clock)
    service = make_service(store, clock, refresh_seconds=REFRESH_SECONDS)
    service.log = recorder
    # An answer cache shorter than the refresh, so that what is measured is the selector's.
    cache: TtlCache = TtlCache(clock, ttl_seconds=1, max_entries=100)
    server = SelectorGateway(("127.0.0.1", 0), service, cache, recorder, HttpLimits(threads=2))
    server.start_background()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def select(port: int, member: str) -> dict:
    url = f"http://127.0.0.1:{port}/select?member_id={member}&area_code=MAIN"
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.loads(resp.read())


def test_stop_with_promotion_sets_the_area_default_and_audits_it(store: MongoStore) -> None:
    # GIVEN a running experiment in MAIN, whose default is MAIN-DEFAULT-01
    exp = start_experiment(store)
    # WHEN it is stopped with its challenger promoted
    stopped = store.apply_action(
        exp.experiment_id,
        Action.STOP,
        expected_version=exp.version,
        by="olivia",
        promoted_model=PROMOTED,
    )
    # THEN the area serves the promoted model by default and the audit log says who changed it
    assert stopped.promoted_model == PROMOTED
    assert store.get_area("MAIN").default_model == PROMOTED
    promote = [e for e in store.audit_history(exp.experiment_id) if e.action == "promote"]
    assert len(promote) == 1
    assert promote[0].by == "olivia"
    assert promote[0].before == {"area_code": "MAIN", "default_model": MAIN_DEFAULT}
    assert promote[0].after == {"area_code": "MAIN", "default_model": PROMOTED}
    assert promote[0].changed_fields() == ["default_model"]


def test_stop_without_promotion_keeps_the_area_default(store: MongoStore) -> None:
    exp = start_experiment(store)
    store.apply_action(exp.experiment_id, Action.STOP, expected_version=exp.version, by="o")
    assert store.get_area("MAIN").default_model == MAIN_DEFAULT
    assert not [e for e in store.audit_history(exp.experiment_id) if e.action == "promote"]


def test_a_promoted_model_that_is_no_arm_changes_nothing(store: MongoStore) -> None:
    exp = start_experiment(store)
    with pytest.raises(ValidationError):
        store.apply_action(
            exp.experiment_id,
            Action.STOP,
            expected_version=exp.version,
            by="o",
            promoted_model="NOT-AN-ARM",
        )
    assert store.get_area("MAIN").default_model == MAIN_DEFAULT
    assert store.get_experiment(exp.experiment_id).status.value == "running"


def test_the_gateway_serves_the_promoted_model_after_the_refresh(
    store: MongoStore, clock: FixedClock, gateway_port: int
) -> None:
    # GIVEN a gateway answering for a running experiment
    exp = start_experiment(store)
    before = select(gateway_port, "m-1")
    assert before["experiment_id"] == exp.experiment_id
    # WHEN the experiment is stopped with a promoted model
    store.apply_action(
        exp.experiment_id,
        Action.STOP,
        expected_version=exp.version,
        by="olivia",
        promoted_model=PROMOTED,
    )
    # THEN within the refresh interval the selector may still use its configuration ...
    clock.advance(seconds=REFRESH_SECONDS + 1)
    # ... and after it every member gets the promoted model as the area's default
    answers = [select(gateway_port, f"m-{i}") for i in range(20)]
    assert {a["model_code"] for a in answers} == {PROMOTED}
    assert {a["reason"] for a in answers} == {"default"}
    assert {a["experiment_id"] for a in answers} == {None}
