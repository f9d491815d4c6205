"""The selection service on the embedded MongoDB: every reason, 404, the configuration cache."""

from __future__ import annotations

import pytest
from pymongo import MongoClient, monitoring

from services.clock import FixedClock
from services.experiments import ExperimentType, Status
from services.lifecycle import Action
from services.mongo.repository import MongoStore
from services.serving.observability import ListLog
from services.serving.request import SelectRequest
from tests.foundation.factories import area, arms
from tests.serving.conftest import LATER, MAIN_DEFAULT, make_service, save_batch, start_experiment

WARM_COUNTS = [(1972, 27302), (430, 6960)]


def ask(service, member: str = "1001", area_code: str = "MAIN"):
    return service.select(SelectRequest(member, area_code))


def test_no_experiment_serves_the_area_default(store: MongoStore, clock: FixedClock) -> None:
    store.save_area(area("CART", "CART-POPULAR-01"))
    result = ask(make_service(store, clock), area_code="CART")
    assert result.status == 200
    assert dict(result.body) == {
        "area_code": "CART",
        "experiment_id": None,
        "model_code": "CART-POPULAR-01",
        "reason": "default",
        "batch_id": None,
        "propensity": 1.0,
    }


def test_unknown_area_is_404(store: MongoStore, clock: FixedClock) -> None:
    result = ask(make_service(store, clock), area_code="NOWHERE")
    assert result.status == 404
    assert "NOWHERE" in result.body["error"]


def test_new_dynamic_test_warms_up(store: MongoStore, clock: FixedClock) -> None:
    exp = start_experiment(store)
    result = ask(make_service(store, clock))
    assert result.body["reason"] == "warmup"
    assert result.body["experiment_id"] == exp.experiment_id
    assert result.body["model_code"] in exp.model_codes


def test_warm_dynamic_test_uses_bts_and_reports_the_batch(
    store: MongoStore, clock: FixedClock
) -> None:
    exp = start_experiment(store)
    save_batch(store, exp, WARM_COUNTS, batch_id="B-0042")
    clock.advance(days=2)
    served = {ask(make_service(store, clock), member=str(m)).body["model_code"] for m in range(40)}
    result = ask(make_service(store, clock))
    assert result.body["reason"] == "bts"
    assert result.body["batch_id"] == "B-0042"
    assert served <= set(exp.model_codes)


def test_static_test_splits_by_member(store: MongoStore, clock: FixedClock) -> None:
    exp = start_experiment(store, type=ExperimentType.STATIC)
    service = make_service(store, clock)
    answers = [ask(service, member=str(m)).body for m in range(200)]
    assert {a["reason"] for a in answers} == {"static"}
    assert {a["model_code"] for a in answers} == set(exp.model_codes)
    # Deterministic: the same member keeps the same model.
    assert ask(service, member="17").body == answers[17]


def test_paused_test_serves_the_control(store: MongoStore, clock: FixedClock) -> None:
    exp = start_experiment(store)
    store.apply_action(exp.experiment_id, Action.PAUSE, expected_version=2, by="test")
    answers = {ask(make_service(store, clock), member=str(m)).body["model_code"] for m in range(20)}
    assert answers == {exp.control_arm.model_code}
    assert ask(make_service(store, clock)).body["reason"] == "paused"


def test_a_stopped_experiment_left_holding_the_area_serves_the_area_default(
    store: MongoStore, clock: FixedClock
) -> None:
    # GIVEN a stopped experiment still named as the area's active one (a stop that died before
    # releasing the area, or a half-finished manual edit): the claim is void
    exp = start_experiment(store)
    store.db["experiments"].update_one(
        {"_id": exp.experiment_id}, {"$set": {"status": Status.STOPPED.value}}
    )
    log = ListLog()
    result = ask(make_service(store, clock, log=log))
    assert result.status == 200
    assert result.body["reason"] == "default"
    assert result.body["model_code"] == MAIN_DEFAULT
    assert result.body["experiment_id"] is None


def test_a_pause_takes_effect_within_the_refresh_interval(
    store: MongoStore, clock: FixedClock
) -> None:
    exp = start_experiment(store)
    service = make_service(store, clock, refresh_seconds=30)
    assert ask(service).body["reason"] == "warmup"
    store.apply_action(exp.experiment_id, Action.PAUSE, expected_version=2, by="test")
    # Within the interval the cached configuration still serves ...
    clock.advance(seconds=29)
    assert ask(service).body["reason"] == "warmup"
    # ... and once it has passed the pause is seen.
    clock.advance(seconds=1)
    assert ask(service).body == {
        "area_code": "MAIN",
        "experiment_id": exp.experiment_id,
        "model_code": exp.control_arm.model_code,
        "reason": "paused",
        "batch_id": None,
        "propensity": 1.0,
    }


def test_a_stop_returns_the_area_to_its_default(store: MongoStore, clock: FixedClock) -> None:
    exp = start_experiment(store)
    service = make_service(store, clock, refresh_seconds=10)
    ask(service)
    store.apply_action(exp.experiment_id, Action.STOP, expected_version=2, by="test")
    clock.advance(seconds=10)
    body = ask(service).body
    assert (body["reason"], body["model_code"], body["experiment_id"]) == (
        "default",
        MAIN_DEFAULT,
        None,
    )


def test_new_batch_is_picked_up_at_refresh(store: MongoStore, clock: FixedClock) -> None:
    exp = start_experiment(store)
    save_batch(store, exp, WARM_COUNTS, batch_id="B-0001")
    clock.advance(days=2)
    service = make_service(store, clock)
    assert ask(service).body["batch_id"] == "B-0001"
    save_batch(store, exp, WARM_COUNTS, batch_id="B-0002")
    assert ask(service).body["batch_id"] == "B-0001"
    clock.advance(seconds=30)
    assert ask(service).body["batch_id"] == "B-0002"


class CountReads(monitoring.CommandListener):
    def __init__(self) -> None:
        self.reads = 0

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name in {"find", "aggregate", "count"}:
            self.reads += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


def test_requests_within_the_interval_do_not_read_mongodb(
    mongo_server, mongo_db, clock: FixedClock
) -> None:
    # GIVEN a store whose client counts every read command
    from pymongo import MongoClient

    listener = CountReads()
    client = MongoClient(mongo_server.uri, event_listeners=[listener])
    store = MongoStore(client[mongo_db.name], clock)
    exp = start_experiment(store, arms=arms("A-01", "B-01", "C-01"))
    save_batch(store, exp, [(50, 950), (60, 940), (70, 930)])
    clock.advance(days=2)
    service = make_service(store, clock)
    listener.reads = 0
    # WHEN 500 requests arrive within one refresh interval, then one after it
    for m in range(500):
        assert ask(service, member=str(m)).status == 200
    reads_first_interval = listener.reads
    clock.advance(seconds=31)
    ask(service)
    # THEN one load (area, the claim's holder, experiment, parameters) per interval
    assert reads_first_interval == 4
    assert listener.reads == 8
    client.close()


def test_unknown_areas_are_remembered_not_reread(store: MongoStore, clock: FixedClock) -> None:
    service = make_service(store, clock)
    for _ in range(5):
        assert ask(service, area_code="NOWHERE").status == 404
    assert service.cache.loads == 1


def test_selection_log_hashes_the_member(store: MongoStore, clock: FixedClock) -> None:
    start_experiment(store)
    log = ListLog()
    ask(make_service(store, clock, log=log), member="member-31337")
    (record,) = log.records
    assert record["member_hash"] and "member-31337" not in str(record)
    assert record["model_code"] and record["reason"] == "warmup"
    assert record["experiment_id"] == "EXP-01"


@pytest.mark.parametrize("refresh", [0, -1])
def test_refresh_interval_must_be_positive(store: MongoStore, clock: FixedClock, refresh) -> None:
    with pytest.raises(ValueError):
        make_service(store, clock, refresh_seconds=refresh)


def test_ten_arm_test_serves_every_arm_eventually(store: MongoStore, clock: FixedClock) -> None:
    from tests.serving.conftest import ten_arms

    exp = start_experiment(store, arms=ten_arms())
    save_batch(store, exp, [(100, 900)] * 10)
    clock.current = clock.current + LATER
    service = make_service(store, clock)
    served = {ask(service, member=str(m)).body["model_code"] for m in range(400)}
    assert served == set(exp.model_codes)


# --- propensities: every answer and log line states the probability of the model served ----


def test_answers_and_log_lines_carry_the_propensity(store: MongoStore, clock: FixedClock) -> None:
    # GIVEN a 1:3 static test WHEN members ask THEN each answer's propensity is its arm's share
    exp = start_experiment(
        store, type=ExperimentType.STATIC, arms=arms("S-A", "S-B", weights=(1, 3))
    )
    log = ListLog()
    service = make_service(store, clock, log=log)
    answers = [ask(service, member=str(m)).body for m in range(50)]
    share = dict(zip(exp.model_codes, (0.25, 0.75), strict=True))
    assert all(a["propensity"] == pytest.approx(share[a["model_code"]]) for a in answers)
    # The log line of each selection says the same as its answer.
    assert [r["propensity"] for r in log.records] == [a["propensity"] for a in answers]
    assert [r["batch_id"] for r in log.records] == [a["batch_id"] for a in answers]


def test_a_warm_batch_serves_its_stored_weight_as_the_propensity(
    store: MongoStore, clock: FixedClock
) -> None:
    # GIVEN a sticky dynamic test whose warm batch stored weights 0.5 / 0.5
    exp = start_experiment(store, serving_mode="sticky")
    save_batch(store, exp, WARM_COUNTS, batch_id="B-0042")
    clock.advance(days=2)
    service = make_service(store, clock)
    answers = [ask(service, member=str(m)).body for m in range(40)]
    assert {(a["reason"], a["batch_id"], a["propensity"]) for a in answers} == {
        ("bts", "B-0042", 0.5)
    }


def test_a_fallback_has_propensity_one(clock: FixedClock) -> None:
    # GIVEN a store that does not answer and an area default
    client = MongoClient("mongodb://127.0.0.1:1/", serverSelectionTimeoutMS=200, connect=False)
    dead = MongoStore(client["dynab"], clock)
    # WHEN the selector is asked
    body = ask(make_service(dead, clock, area_defaults={"MAIN": MAIN_DEFAULT})).body
    client.close()
    # THEN it serves the default as a fallback, with the probability that served it: 1
    assert (body["reason"], body["model_code"], body["propensity"]) == (
        "fallback",
        MAIN_DEFAULT,
        1.0,
    )
