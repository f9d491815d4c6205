"""The repository's parameter-job bookkeeping against the embedded MongoDB: hourly upserts,
legacy batch documents, processed hours, the lease."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

from services.hourly_metrics import HourlyMetric
from services.mongo import schema
from services.parameters import BatchArm, ParameterBatch

H = datetime(2026, 11, 28, 9)


def batch(batch_id: str, end: datetime) -> ParameterBatch:
    return ParameterBatch(
        "EXP-01",
        batch_id,
        end - timedelta(hours=24),
        end,
        (BatchArm("A", 1, 9, 0.5, 0.5), BatchArm("B", 2, 8, 0.5, 0.5)),
        False,
    )


def test_replacing_hours_deletes_rows_that_are_gone_and_keeps_other_hours(store):
    rows = [HourlyMetric("EXP-01", m, H + timedelta(hours=k), 10, 1) for k in (0, 1) for m in "AB"]
    store.replace_hourly_metrics("EXP-01", [H, H + timedelta(hours=1)], rows)

    # WHEN hour H is replaced by model A only
    store.replace_hourly_metrics("EXP-01", [H], [HourlyMetric("EXP-01", "A", H, 20, 2)])

    got = [(m.model_code, m.hour, m.impressions) for m in store.hourly_metrics("EXP-01")]
    assert got == [
        ("A", H, 20),
        ("A", H + timedelta(hours=1), 10),
        ("B", H + timedelta(hours=1), 10),
    ]


def test_hourly_fields_for_the_estimators_round_trip(store):
    row = HourlyMetric(
        "EXP-01",
        "A",
        H,
        10,
        3,
        impressions_by_batch={"20261128T0900": 7, "unknown": 3},
        propensity_missing=3,
        ipw_weight=14.0,
        ipw_clicks=4.0,
    )
    store.replace_hourly_metrics("EXP-01", [H], [row])
    assert store.hourly_metrics("EXP-01") == [row]


def test_a_legacy_batch_document_is_replaced_not_duplicated(store):
    store.db[schema.PARAMETER_BATCHES].insert_one(
        {"experiment_id": "EXP-01", "batch_id": "20261128T1000", "window_end": H, "arms": []}
    )
    assert store.save_parameter_batch(batch("20261128T1000", H + timedelta(hours=1)))
    docs = list(store.db[schema.PARAMETER_BATCHES].find({"batch_id": "20261128T1000"}))
    assert [d["_id"] for d in docs] == ["EXP-01|20261128T1000"]


def test_an_older_batch_is_history_only(store):
    assert store.save_parameter_batch(batch("20261128T1100", H + timedelta(hours=2)))
    assert not store.save_parameter_batch(batch("20261128T1000", H + timedelta(hours=1)))
    assert store.get_parameters("EXP-01", ("A", "B")).batch_id == "20261128T1100"
    assert [b.batch_id for b in store.parameter_history("EXP-01")] == [
        "20261128T1000",
        "20261128T1100",
    ]


def test_job_hours_round_trip(store):
    store.save_job_hours([{"hour": H, "status": "running", "batch": "b"}])
    store.save_job_hours([{"hour": H, "status": "done", "batch": "b", "events": 5}])
    assert store.job_hours(H, H + timedelta(hours=1)) == {
        H: {"hour": H, "status": "done", "batch": "b", "events": 5}
    }


def test_of_many_callers_at_once_exactly_one_takes_the_lease(store):
    now = datetime(2026, 11, 29, 5)
    barrier = threading.Barrier(8)
    won: list[str] = []

    def take(i: int) -> None:
        barrier.wait()
        if store.acquire_lease("job", f"owner-{i}", now=now, ttl_seconds=60):
            won.append(f"owner-{i}")

    threads = [threading.Thread(target=take, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 1
    assert store.lease("job")["owner"] == won[0]
    # an expired lease can be taken; a released one too
    later = now + timedelta(seconds=61)
    assert store.acquire_lease("job", "late", now=later, ttl_seconds=60)
    assert not store.acquire_lease("job", "other", now=later, ttl_seconds=60)
    store.release_lease("job", "late")
    assert store.acquire_lease("job", "other", now=later, ttl_seconds=60)
