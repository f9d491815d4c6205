"""The whole job against the embedded MongoDB: generator -> logs -> Spark -> documents."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from services.algorithms.floor import apply_floor
from services.events import EventLogWriter
from services.experiments import ExperimentType
from services.mongo import schema
from services.parameters import BatchArm, ParameterBatch
from services.statistics import probability_best
from services.traffic import ArmSpec, TrafficConfig, generate
from spark.update_params import JobSettings, run_update
from tests.foundation import factories

pytestmark = pytest.mark.spark

START = datetime(2026, 11, 28, 0)
A, B = "EXP-01-APS002-01", "EXP-01-NCF-01"
S1, S2 = "LF001-01", "NCF-02"
P1, P2 = "CART-POP-01", "CART-NEW-01"


def setup_experiments(store, clock) -> None:
    """EXP-01 dynamic and EXP-02 static running since START; EXP-03 paused with parameters."""
    clock.current = START
    for code, default in (("MAIN", A), ("DETAIL", S1), ("CART", P1)):
        store.save_area(factories.area(code, default))
    specs = [
        factories.experiment(warmup_hours=1, warmup_min_impressions=50, exposure_floor=0.05),
        factories.experiment(
            experiment_id="EXP-02",
            area_code="DETAIL",
            type=ExperimentType.STATIC,
            arms=factories.arms(S1, S2, weights=(2, 3)),
        ),
        factories.experiment(experiment_id="EXP-03", area_code="CART", arms=factories.arms(P1, P2)),
    ]
    for spec in specs:
        created = store.create_experiment(spec, by="test")
        store.apply_action(spec.experiment_id, "start", expected_version=created.version, by="t")
    store.apply_action("EXP-03", "pause", expected_version=2, by="t")
    store.save_parameter_batch(
        ParameterBatch(
            "EXP-03",
            "old",
            START - timedelta(hours=24),
            START,
            (BatchArm(P1, 5, 95, 0.4, 0.4), BatchArm(P2, 7, 93, 0.6, 0.6)),
            False,
        )
    )


def write_traffic(root: Path, hours: int = 3, **extra) -> object:
    arms = (
        ArmSpec("EXP-01", "MAIN", A, 0.09, 0.01),
        ArmSpec("EXP-01", "MAIN", B, 0.04, 0.005),
        ArmSpec("EXP-02", "DETAIL", S1, 0.05, 0.003, weight=2),
        ArmSpec("EXP-02", "DETAIL", S2, 0.05, 0.003, weight=3),
        ArmSpec("EXP-03", "CART", P1, 0.05, 0.0),
        ArmSpec("EXP-03", "CART", P2, 0.05, 0.0),
    )
    config = TrafficConfig(
        arms, START, hours=hours, requests_per_hour=3000, members=2000, seed=11, **extra
    )
    with EventLogWriter(root, writer_id="t") as writer:
        return generate(config, writer)


def state(db) -> dict[str, list[dict]]:
    return {
        name: sorted(
            ({k: v for k, v in d.items() if k != "_id"} for d in db[name].find()),
            key=repr,
        )
        for name in (schema.HOURLY_METRICS, schema.PARAMETER_BATCHES, schema.ARM_PARAMETERS)
    }


def expected_volume(truth, experiment_id: str) -> int:
    """An experiment's impressions, clicks and orders, from the generator's truth."""
    rows = truth[truth.experiment_id == experiment_id]
    return rows.impressions.sum() + rows.clicks.sum() + rows.orders.sum()


def test_end_to_end_generator_to_mongodb_documents(spark, store, clock, tmp_path):
    # GIVEN three hours of traffic with every kind of data-quality problem
    setup_experiments(store, clock)
    summary = write_traffic(
        tmp_path / "events",
        duplicate_share=0.02,
        orphan_click_share=0.05,
        malformed_share=0.002,
        late_click_share=0.05,
    )
    end = START + timedelta(hours=6)
    clock.current = end

    # WHEN the batch ending three hours after the traffic runs (every late click has landed)
    report = run_update(
        spark, store, JobSettings(str(tmp_path / "events"), end, estimator="pooled")
    )

    # THEN the hourly metrics are the generator's truth, hour by hour
    truth = summary.truth
    for experiment_id in ("EXP-01", "EXP-02"):
        expected = truth[truth.experiment_id == experiment_id]
        got = store.hourly_metrics(experiment_id)
        assert [
            (m.model_code, m.hour, m.impressions, m.clicks, m.orders, m.unique_members) for m in got
        ] == [
            (
                r.model_code,
                r.hour.to_pydatetime(),
                r.impressions,
                r.clicks,
                r.orders,
                r.unique_members,
            )
            for r in expected.sort_values(["hour", "model_code"]).itertuples()
        ]
    assert store.hourly_metrics("EXP-03") == []

    # AND the dynamic experiment's batch holds alpha/beta, P(best) and floored weights
    batch = store.parameter_history("EXP-01")[-1]
    exp01 = (
        truth[truth.experiment_id == "EXP-01"]
        .groupby("model_code")[["impressions", "clicks"]]
        .sum()
    )
    alpha = [int(exp01.loc[c, "clicks"]) for c in (A, B)]
    beta = [int(exp01.loc[c, "impressions"] - exp01.loc[c, "clicks"]) for c in (A, B)]
    assert [(a.model_code, a.alpha, a.beta) for a in batch.arms] == [
        (A, alpha[0], beta[0]),
        (B, alpha[1], beta[1]),
    ]
    p = probability_best([1 + x for x in alpha], [1 + x for x in beta])
    assert not batch.warmup
    np.testing.assert_allclose([a.weight for a in batch.arms], apply_floor(p / p.sum(), 0.05))
    assert batch.window_end == end
    assert batch.batch_id == "20261128T0600"

    # AND its data-quality counts are what the generator injected
    assert report.malformed_lines == summary.counts["malformed_lines"] > 0
    for experiment_id in ("EXP-01", "EXP-02"):
        dq = store.parameter_history(experiment_id)[-1].data_quality
        injected = summary.by_experiment[experiment_id]
        assert injected["orphan_clicks"] > 0 and injected["late_clicks"] > 0
        assert dq == {
            "duplicate_events": injected["duplicates"],
            "orphan_clicks": injected["orphan_clicks"],
            "late_clicks": injected["late_clicks"],
            "orphan_orders": 0,
            "late_orders": injected["late_orders"],
            "malformed_lines": summary.counts["malformed_lines"],
            "malformed_files": len(report.malformed_by_file),
            # The volume the rates are judged against (docs/guardrails.md).
            "lines": report.events,
            "events": int(expected_volume(truth, experiment_id)),
            "clicks": int(truth[truth.experiment_id == experiment_id].clicks.sum()),
        }

    # AND the static experiment records its SRM check against the 2:3 split, on its members
    static = store.parameter_history("EXP-02")[-1]
    assert [a.weight for a in static.arms] == pytest.approx([0.4, 0.6])
    assert static.srm["mismatch"] is False and static.srm["unit"] == "members"
    members = sum(sum(m.first_members_by_batch.values()) for m in store.hourly_metrics("EXP-02"))
    assert sum(static.srm["observed"]) == members
    assert (
        max(m.unique_members for m in store.hourly_metrics("EXP-02"))
        < members
        < int(truth[truth.experiment_id == "EXP-02"].impressions.sum())
    )

    # AND the arm parameters the selector reads are the seed's names
    doc = store.db[schema.ARM_PARAMETERS].find_one({"_id": f"EXP-01|{A}"})
    assert (doc["variant_name"], doc["mab_alpha"], doc["mab_beta"]) == (A, alpha[0], beta[0])

    # AND malformed lines were quarantined
    assert list((tmp_path / "events" / "_quarantine").rglob("*.json"))


def test_three_runs_leave_the_same_state_and_paused_experiments_untouched(
    spark, store, clock, tmp_path
):
    setup_experiments(store, clock)
    write_traffic(tmp_path / "events", hours=2, duplicate_share=0.01)
    clock.current = START + timedelta(hours=3)
    paused_before = {
        name: [d for d in docs if d.get("experiment_id") == "EXP-03"]
        for name, docs in state(store.db).items()
    }
    settings = JobSettings(str(tmp_path / "events"), START + timedelta(hours=3))

    states = []
    for _ in range(3):
        run_update(spark, store, settings)
        states.append(state(store.db))

    assert states[0] == states[1] == states[2]
    assert len(states[0][schema.PARAMETER_BATCHES]) == 3  # EXP-03's old one, EXP-01, EXP-02
    paused_after = {
        name: [d for d in docs if d.get("experiment_id") == "EXP-03"]
        for name, docs in states[2].items()
    }
    assert paused_after == paused_before
    assert paused_after[schema.ARM_PARAMETERS]  # it kept its parameters


def test_warm_up_keeps_the_configured_split(spark, store, clock, tmp_path):
    clock.current = START
    store.save_area(factories.area())
    spec = factories.experiment(
        warmup_hours=1, warmup_min_impressions=10**6, arms=factories.arms(A, B, weights=(1, 3))
    )
    store.create_experiment(spec, by="t")
    store.apply_action("EXP-01", "start", expected_version=1, by="t")
    write_traffic(tmp_path / "events", hours=1)

    run_update(spark, store, JobSettings(str(tmp_path / "events"), START + timedelta(hours=2)))

    batch = store.parameter_history("EXP-01")[-1]
    assert batch.warmup
    assert [a.weight for a in batch.arms] == pytest.approx([0.25, 0.75])
    assert store.get_parameters("EXP-01", (A, B)).warmup


def test_no_running_experiment_reads_nothing(spark, store, tmp_path):
    report = run_update(spark, store, JobSettings(str(tmp_path), START))
    assert report.hours_read == [] and report.batches == []
