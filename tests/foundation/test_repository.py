"""The MongoDB repository against the embedded wire-protocol server over a real connection."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest
from pymongo.errors import DuplicateKeyError

from services.exceptions import (
    AreaBusyError,
    ConflictError,
    NotFoundError,
    StaleVersionError,
    TransitionError,
    ValidationError,
)
from services.experiments import Status
from services.hourly_metrics import HourlyMetric
from services.mongo import schema
from services.mongo.repository import MongoStore
from services.parameters import BatchArm, ParameterBatch
from tests.foundation.factories import area, arms, experiment

H = datetime(2026, 11, 28, 9)


@pytest.fixture
def with_area(store: MongoStore) -> MongoStore:
    store.save_area(area("MAIN"))
    store.save_area(area("CART", default_model="CART-BASE"))
    return store


def test_area_crud(store: MongoStore):
    store.save_area(area("MAIN"))
    store.save_area(area("MAIN", default_model="NEW-DEFAULT"))
    got = store.get_area("MAIN")
    assert got.default_model == "NEW-DEFAULT" and got.active_experiment_id is None
    assert [a.area_code for a in store.list_areas()] == ["MAIN"]
    with pytest.raises(NotFoundError, match="unknown area 'NOPE'"):
        store.get_area("NOPE")


def test_create_read_list_and_edit_a_draft(with_area: MongoStore, clock):
    created = with_area.create_experiment(experiment(), by="alice")
    assert created.version == 1 and created.created_by == "alice"
    assert created.created_at == clock.now()
    assert with_area.get_experiment("EXP-01") == created
    with_area.create_experiment(experiment(experiment_id="EXP-02", area_code="CART"), by="bob")
    assert [e.experiment_id for e in with_area.list_experiments()] == ["EXP-01", "EXP-02"]
    assert [e.experiment_id for e in with_area.list_experiments(area_code="CART")] == ["EXP-02"]
    assert with_area.list_experiments(statuses=[Status.RUNNING]) == []

    clock.advance(minutes=5)
    edited = with_area.update_experiment(
        created.with_changes(name="renamed", exposure_floor=0.05), expected_version=1, by="bob"
    )
    assert edited.version == 2 and edited.name == "renamed" and edited.updated_by == "bob"
    assert edited.created_by == "alice"
    assert with_area.get_experiment("EXP-01") == edited


def test_duplicate_id_unknown_area_and_non_draft_create_are_refused(with_area: MongoStore):
    with_area.create_experiment(experiment(), by="alice")
    with pytest.raises(ConflictError, match="already taken"):
        with_area.create_experiment(experiment(), by="alice")
    with pytest.raises(ValidationError) as info:
        with_area.create_experiment(experiment(experiment_id="EXP-09", area_code="NOPE"), by="a")
    assert info.value.field == "area_code"
    with pytest.raises(ValidationError) as info:
        with_area.create_experiment(experiment(experiment_id="EXP-08", status="running"), by="a")
    assert info.value.field == "status"
    with pytest.raises(NotFoundError):
        with_area.get_experiment("EXP-77")


def test_a_stale_version_is_refused_and_nothing_is_lost(with_area: MongoStore):
    # GIVEN two operators who both read version 1
    with_area.create_experiment(experiment(), by="alice")
    alice_view = with_area.get_experiment("EXP-01")
    bob_view = with_area.get_experiment("EXP-01")
    # WHEN alice saves first
    with_area.update_experiment(
        alice_view.with_changes(name="alice's"), expected_version=1, by="alice"
    )
    # THEN bob's save from the old version is refused, naming both versions
    with pytest.raises(StaleVersionError, match="you edited version 1, it is now at version 2"):
        with_area.update_experiment(
            bob_view.with_changes(name="bob's"), expected_version=1, by="bob"
        )
    with pytest.raises(StaleVersionError):
        with_area.apply_action("EXP-01", "start", expected_version=1, by="bob")
    assert with_area.get_experiment("EXP-01").name == "alice's"
    assert with_area.get_area("MAIN").active_experiment_id is None


def test_lifecycle_is_stored_with_audit_history(with_area: MongoStore, clock):
    with_area.create_experiment(experiment(), by="alice")
    exp = with_area.apply_action("EXP-01", "start", expected_version=1, by="ops")
    assert exp.status is Status.RUNNING and exp.version == 2
    assert with_area.active_experiment("MAIN").experiment_id == "EXP-01"
    clock.advance(hours=1)
    exp = with_area.apply_action("EXP-01", "pause", expected_version=2, by="ops")
    assert with_area.active_experiment("MAIN").status is Status.PAUSED
    exp = with_area.apply_action("EXP-01", "resume", expected_version=3, by="ops")
    exp = with_area.apply_action(
        "EXP-01", "stop", expected_version=4, by="lead", promoted_model="EXP-01-NCF-01"
    )
    assert exp.status is Status.STOPPED and exp.promoted_model == "EXP-01-NCF-01"
    assert with_area.active_experiment("MAIN") is None
    history = with_area.audit_history("EXP-01")
    assert [(h.action, h.by) for h in history] == [
        ("create", "alice"),
        ("start", "ops"),
        ("pause", "ops"),
        ("resume", "ops"),
        ("stop", "lead"),
        ("promote", "lead"),
    ]
    assert history[0].before is None
    assert history[1].before["status"] == "draft" and history[1].after["status"] == "running"
    assert "status" in history[-2].changed_fields()
    assert history[-1].changed_fields() == ["default_model"]
    with pytest.raises(TransitionError, match="it is stopped"):
        with_area.apply_action("EXP-01", "resume", expected_version=5, by="ops")
    with pytest.raises(TransitionError, match="only a draft can be edited"):
        with_area.update_experiment(exp, expected_version=5, by="ops")


def test_one_running_or_paused_experiment_per_area(with_area: MongoStore):
    with_area.create_experiment(experiment(), by="a")
    with_area.create_experiment(experiment(experiment_id="EXP-02"), by="a")
    with_area.apply_action("EXP-01", "start", expected_version=1, by="a")
    with_area.apply_action("EXP-01", "pause", expected_version=2, by="a")
    with pytest.raises(AreaBusyError, match=r"area MAIN already has .* \(EXP-01\)"):
        with_area.apply_action("EXP-02", "start", expected_version=1, by="a")
    assert with_area.get_experiment("EXP-02").status is Status.DRAFT
    with_area.apply_action("EXP-01", "stop", expected_version=3, by="a")
    assert with_area.apply_action("EXP-02", "start", expected_version=1, by="a").is_active


def test_two_concurrent_starts_in_one_area_let_exactly_one_win(with_area: MongoStore):
    ids = [f"EXP-{i:02d}" for i in range(1, 7)]
    for i in ids:
        with_area.create_experiment(experiment(experiment_id=i), by="a")
    outcomes: dict[str, str] = {}
    barrier = threading.Barrier(len(ids))

    def start(exp_id: str) -> None:
        barrier.wait()
        try:
            with_area.apply_action(exp_id, "start", expected_version=1, by="a")
            outcomes[exp_id] = "won"
        except AreaBusyError:
            outcomes[exp_id] = "busy"

    threads = [threading.Thread(target=start, args=(i,)) for i in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [i for i, o in outcomes.items() if o == "won"]
    assert len(winners) == 1
    assert with_area.get_area("MAIN").active_experiment_id == winners[0]
    running = with_area.list_experiments(statuses=[Status.RUNNING])
    assert [e.experiment_id for e in running] == winners


def _batch(batch_id: str, end: datetime, alphas=(10, 5), betas=(90, 95), warmup=False):
    return ParameterBatch(
        experiment_id="EXP-01",
        batch_id=batch_id,
        window_start=end - timedelta(hours=24),
        window_end=end,
        arms=(
            BatchArm("EXP-01-APS002-01", alphas[0], betas[0], 0.9, 0.9),
            BatchArm("EXP-01-NCF-01", alphas[1], betas[1], 0.1, 0.1),
        ),
        warmup=warmup,
        seed=7,
        data_quality={"orphan_clicks": 2},
    )


def test_parameters_use_the_seed_field_names_and_keep_history(store: MongoStore, mongo_db):
    codes = ("EXP-01-APS002-01", "EXP-01-NCF-01")
    empty = store.get_parameters("EXP-01", codes)
    assert empty.batch_id is None and empty.warmup and [a.alpha for a in empty.arms] == [0, 0]

    store.save_parameter_batch(_batch("B1", H))
    store.save_parameter_batch(_batch("B2", H + timedelta(hours=1), alphas=(20, 6)))
    store.save_parameter_batch(_batch("B2", H + timedelta(hours=1), alphas=(21, 6)))  # rerun

    raw = mongo_db[schema.ARM_PARAMETERS].find_one({"variant_name": "EXP-01-APS002-01"})
    assert (raw["mab_alpha"], raw["mab_beta"]) == (21, 90)
    snap = store.get_parameters("EXP-01", codes)
    assert snap.batch_id == "B2" and not snap.warmup
    assert [(a.alpha, a.beta, a.weight) for a in snap.arms] == [(21, 90, 0.9), (6, 95, 0.1)]
    history = store.parameter_history("EXP-01")
    assert [b.batch_id for b in history] == ["B1", "B2"]
    assert history[1].arms[0].alpha == 21 and history[0].data_quality == {"orphan_clicks": 2}
    assert [b.batch_id for b in store.parameter_history("EXP-01", limit=1)] == ["B2"]
    assert mongo_db[schema.PARAMETER_BATCHES].count_documents({}) == 2


def test_hourly_metrics_replace_is_idempotent(store: MongoStore):
    hours = [H, H + timedelta(hours=1)]
    rows = [
        HourlyMetric("EXP-01", "A", H, 100, 7, 1, 90),
        HourlyMetric("EXP-01", "B", H, 100, 5, 0, 95),
        HourlyMetric("EXP-01", "A", H + timedelta(hours=1), 50, 2),
    ]
    for _ in range(3):
        assert store.replace_hourly_metrics("EXP-01", hours, rows) == 3
    got = store.hourly_metrics("EXP-01")
    assert [(m.model_code, m.hour, m.impressions, m.clicks) for m in got] == [
        ("A", H, 100, 7),
        ("B", H, 100, 5),
        ("A", H + timedelta(hours=1), 50, 2),
    ]
    # recomputing an hour replaces it: a model that vanished from that hour goes away
    store.replace_hourly_metrics("EXP-01", [H], [HourlyMetric("EXP-01", "A", H, 120, 8)])
    got = store.hourly_metrics("EXP-01", start=H, end=H + timedelta(hours=1))
    assert [(m.model_code, m.impressions) for m in got] == [("A", 120)]
    assert len(store.hourly_metrics("EXP-01")) == 2
    with pytest.raises(ValidationError):
        store.replace_hourly_metrics("EXP-01", [H], [HourlyMetric("EXP-02", "A", H, 1, 0)])


def test_unique_indexes_enforce_the_invariants(store: MongoStore, mongo_db):
    col = mongo_db[schema.HOURLY_METRICS]
    col.insert_one({"experiment_id": "E", "model_code": "A", "hour": H, "impressions": 1})
    with pytest.raises(DuplicateKeyError):
        col.insert_one({"experiment_id": "E", "model_code": "A", "hour": H, "impressions": 2})
    params = mongo_db[schema.ARM_PARAMETERS]
    params.insert_one({"experiment_id": "E", "variant_name": "A"})
    with pytest.raises(DuplicateKeyError):
        params.insert_one({"experiment_id": "E", "variant_name": "A"})


def test_static_experiment_with_three_arms_round_trips(with_area: MongoStore):
    exp = experiment(
        experiment_id="EXP-03",
        area_code="CART",
        type="static",
        arms=arms("X", "Y", "Z", weights=(2, 3, 5)),
    )
    with_area.create_experiment(exp, by="a")
    got = with_area.get_experiment("EXP-03")
    assert got.normalised_weights == pytest.approx((0.2, 0.3, 0.5))


def test_saving_an_area_keeps_its_claim_and_stores_real_datetimes(with_area: MongoStore, mongo_db):
    with_area.create_experiment(experiment(), by="a")
    with_area.apply_action("EXP-01", "start", expected_version=1, by="a")
    with_area.save_area(area("MAIN", default_model="OTHER"))
    got = with_area.get_area("MAIN")
    assert got.default_model == "OTHER" and got.active_experiment_id == "EXP-01"
    doc = mongo_db[schema.AREAS].find_one({"_id": "MAIN"})
    assert isinstance(doc["updated_at"], datetime) and isinstance(doc["created_at"], datetime)
