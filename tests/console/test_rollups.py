"""The aggregates kept at write time give the figures the hourly data gives.

Daily roll-ups (services/mongo/rollups.py) against sums over the raw ``hourly_metrics``
collection, after late clicks replace an hour, and for data written before roll-ups existed;
the decision path they keep against the one recomputed from every hourly row; the posterior
figures stored with each parameter batch against computing them. All on the embedded MongoDB.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from pymongo.database import Database

from dynab.commands import init_db
from dynab.demo import EXPERIMENTS, install_demo, synthetic_history
from services.hourly_metrics import HourlyMetric
from services.mongo import schema
from services.mongo.repository import MongoStore, batch_to_doc
from services.mongo.rollups import DailyRollups, ensure_all, stored_batch_figures
from services.reports.decision import build_report, decision_history, report_dict
from services.reports.posteriors import batch_figures, batch_history_frame
from services.reports.rollups import decision_history_from_days, rows_from_days

END = datetime(2026, 11, 28, 9)


def raw_sums(db: Database, experiment_id: str) -> dict[tuple[str, str], tuple[int, int, int]]:
    """(day, model) -> impressions, clicks, orders summed over the raw hourly documents."""
    out: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for d in db[schema.HOURLY_METRICS].find({"experiment_id": experiment_id}):
        cell = out[(f"{d['hour']:%Y-%m-%d}", d["model_code"])]
        cell[0] += d["impressions"]
        cell[1] += d["clicks"]
        cell[2] += d.get("orders", 0)
    return {k: tuple(v) for k, v in out.items()}


def rollup_sums(db: Database, experiment_id: str) -> dict[tuple[str, str], tuple[int, int, int]]:
    out: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for row in rows_from_days(DailyRollups(db).days(experiment_id)):
        cell = out[(f"{row.hour:%Y-%m-%d}", row.model_code)]
        cell[0] += row.impressions
        cell[1] += row.clicks
        cell[2] += row.orders
    return {k: tuple(v) for k, v in out.items()}


def assert_same_history(a, b) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert (x.batch_id, x.warmup, x.has_data, x.model_codes) == (
            y.batch_id,
            y.warmup,
            y.has_data,
            y.model_codes,
        )
        assert x.p_best == pytest.approx(y.p_best, abs=1e-12)
        assert x.expected_loss == pytest.approx(y.expected_loss, abs=1e-12)
        assert x.control_ctr == pytest.approx(y.control_ctr, abs=1e-15)


@pytest.fixture
def experiment(store: MongoStore):
    install_demo(store)
    return store.get_experiment(EXPERIMENTS[0].experiment_id)


def write_history(store: MongoStore, experiment, days: float = 4, seed: int = 3):
    metrics, batches = synthetic_history(experiment, END, days, seed=seed)
    store.replace_hourly_metrics(
        experiment.experiment_id, sorted({m.hour for m in metrics}), metrics
    )
    for b in batches:
        store.save_parameter_batch(b)
    return metrics, batches


def check_against_raw(store: MongoStore, experiment) -> None:
    """Roll-ups == raw collection sums; kept decision path == recomputed; same report."""
    exp_id = experiment.experiment_id
    db = store.db
    assert rollup_sums(db, exp_id) == raw_sums(db, exp_id)
    raw = store.hourly_metrics(exp_id)
    rows = rows_from_days(DailyRollups(db).days(exp_id))
    assert [(r.hour, r.model_code, r.impressions, r.clicks, r.orders) for r in rows] == [
        (m.hour, m.model_code, m.impressions, m.clicks, m.orders) for m in raw
    ]
    batches = store.parameter_history(exp_id)
    kept = decision_history_from_days(experiment, DailyRollups(db).days(exp_id), batches)
    assert kept is not None
    assert_same_history(kept, decision_history(experiment, raw, batches))
    fast = report_dict(build_report(experiment, rows, batches, history=kept))
    slow = report_dict(build_report(experiment, raw, batches))
    assert fast == slow


def test_rollups_equal_the_raw_hourly_sums_and_the_decision_path(store, experiment) -> None:
    # GIVEN four days of hourly metrics and batches written as the parameter job writes them
    write_history(store, experiment)
    # THEN the roll-ups add up to the raw collection, and the kept path is the recomputed one
    check_against_raw(store, experiment)
    assert len(DailyRollups(store.db).days(experiment.experiment_id)) == 5  # 4 days, 09:00 cut


def test_late_clicks_replacing_an_old_hour_update_its_day_and_every_later_path(
    store, experiment
) -> None:
    metrics, _ = write_history(store, experiment)
    exp_id = experiment.experiment_id
    before = decision_history_from_days(
        experiment, DailyRollups(store.db).days(exp_id), store.parameter_history(exp_id)
    )
    # WHEN late clicks arrive for an hour two days back (and one model's row of it disappears)
    hour = END - timedelta(days=2, hours=5)
    old = [m for m in metrics if m.hour == hour]
    late = [
        HourlyMetric(exp_id, m.model_code, hour, m.impressions + 400, m.clicks + 150, m.orders + 3)
        for m in old[1:]
    ]
    store.replace_hourly_metrics(exp_id, [hour], late)
    # THEN that day's sums and every later hour's decision figures follow the raw data
    check_against_raw(store, experiment)
    after = decision_history_from_days(
        experiment, DailyRollups(store.db).days(exp_id), store.parameter_history(exp_id)
    )
    assert before is not None and after is not None
    moved = [i for i, (x, y) in enumerate(zip(before, after, strict=True)) if x.p_best != y.p_best]
    assert moved and before[moved[0]].batch_id > f"{hour:%Y%m%dT%H%M}"
    assert moved[-1] == len(after) - 1  # the change carried to the newest hour


def test_replacing_the_newest_hours_reads_only_their_days(store, experiment) -> None:
    # The steady state of the parameter job: the look-back hour and the new one.
    metrics, _ = write_history(store, experiment, days=3)
    exp_id = experiment.experiment_id
    newest = [END - timedelta(hours=2), END - timedelta(hours=1)]
    rows = [
        HourlyMetric(exp_id, m.model_code, m.hour, m.impressions, m.clicks + 1, m.orders)
        for m in metrics
        if m.hour in newest
    ]
    store.replace_hourly_metrics(exp_id, newest, rows)
    check_against_raw(store, experiment)


def test_data_written_before_rollups_existed_is_read_without_writing_a_rollup(
    store, experiment
) -> None:
    # GIVEN hourly documents inserted directly, as an older dynab wrote them (no roll-up)
    metrics, _ = synthetic_history(experiment, END, 3, seed=5)
    store.db[schema.HOURLY_METRICS].insert_many(
        [
            {"_id": f"{m.experiment_id}|{m.model_code}|{m.hour:%Y-%m-%dT%H}", **m.to_dict()}
            for m in metrics
        ]
    )
    assert store.db[schema.DAILY_METRICS].count_documents({}) == 0
    # WHEN the console reads them THEN it rolls them up in memory, equal to the raw data
    check_against_raw(store, experiment)
    # AND writes nothing: a reader racing the job could store hours older than the job's
    assert store.db[schema.DAILY_METRICS].count_documents({}) == 0
    assert store.db[schema.DAILY_METRICS_STATE].count_documents({}) == 0


def test_data_written_before_rollups_existed_is_rolled_up_by_init_db(
    store, experiment, mongo_server, capsys
) -> None:
    metrics, _ = synthetic_history(experiment, END, 2, seed=6)
    store.db[schema.HOURLY_METRICS].insert_many([m.to_dict() for m in metrics])
    code = init_db.run(
        type(
            "Args",
            (),
            {
                "mongodb_uri": mongo_server.uri,
                "mongodb_uri_secret": None,
                "mongodb_uri_ssm": None,
                "db": store.db.name,
            },
        )()
    )
    assert code == 0
    assert "rolled up" in capsys.readouterr().out
    assert store.db[schema.DAILY_METRICS_STATE].count_documents({}) == 1
    assert ensure_all(store.db) == {}  # idempotent: nothing left to roll up
    check_against_raw(store, experiment)


def test_an_hour_written_before_rollups_existed_then_a_new_one_through_the_store(
    store, experiment
) -> None:
    # Old data in place, then the job writes one more hour: the roll-up covers both.
    metrics, _ = synthetic_history(experiment, END, 2, seed=7)
    last = max(m.hour for m in metrics)
    store.db[schema.HOURLY_METRICS].insert_many(
        [
            {"_id": f"{m.experiment_id}|{m.model_code}|{m.hour:%Y-%m-%dT%H}", **m.to_dict()}
            for m in metrics
            if m.hour < last
        ]
    )
    store.replace_hourly_metrics(
        experiment.experiment_id, [last], [m for m in metrics if m.hour == last]
    )
    check_against_raw(store, experiment)


def test_batch_figures_are_stored_at_first_display_and_equal_computing_them(
    store, experiment
) -> None:
    write_history(store, experiment, days=2)
    exp_id = experiment.experiment_id
    history = store.parameter_history(exp_id)
    col = store.db[schema.PARAMETER_BATCHES]
    assert col.count_documents({"figures": {"$exists": True}}) == 0  # the job writes none
    stored = stored_batch_figures(store.db, exp_id, history)
    assert set(stored) == {b.batch_id for b in history}
    doc = col.find_one({"batch_id": history[-1].batch_id})
    assert doc["figures"] == batch_figures(history[-1])
    assert batch_history_frame(history, figures=stored).equals(batch_history_frame(history))
    # A batch rewritten with other counts (a re-run) gets its figures again.
    rerun = replace(
        history[-1], arms=tuple(replace(a, alpha=a.alpha + 7) for a in history[-1].arms)
    )
    store.save_parameter_batch(rerun)
    again = stored_batch_figures(store.db, exp_id, [*history[:-1], rerun])
    assert again[rerun.batch_id] == batch_figures(rerun) != stored[rerun.batch_id]


def test_old_batches_without_figures_get_them_once(store, experiment) -> None:
    _, batches = synthetic_history(experiment, END, 1, seed=8)
    store.db[schema.PARAMETER_BATCHES].insert_many(
        [batch_to_doc(b, created_at=b.window_end) for b in batches]
    )
    history = store.parameter_history(experiment.experiment_id)
    figures = stored_batch_figures(store.db, experiment.experiment_id, history)
    assert store.db[schema.PARAMETER_BATCHES].count_documents({"figures": {"$exists": True}}) == (
        len(batches)
    )
    frame = batch_history_frame(history, figures=figures)
    assert frame.equals(batch_history_frame(history))
    assert all(math.isfinite(x) for x in frame["expected_loss"])
