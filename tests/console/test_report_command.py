"""``dynab report`` against the embedded MongoDB, and the decision report's pure functions."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import numpy as np
import pytest
from pymongo.database import Database

from dynab.cli import main
from services.hourly_metrics import HourlyMetric
from services.mongo.embedded import EmbeddedMongo
from services.mongo.repository import MongoStore
from services.parameters import BatchArm, ParameterBatch
from services.reports.decision import (
    build_report,
    decision_document,
    report_dict,
    report_markdown,
)
from services.statistics.decision import DecisionRule
from tests.foundation.factories import area, experiment

T0 = datetime(2026, 11, 20)
A, B = "EXP-01-APS002-01", "EXP-01-NCF-01"


def metrics(hours: int, p_a: float, p_b: float, seed: int = 0) -> list[HourlyMetric]:
    rng = np.random.default_rng(seed)
    rows = []
    for h in range(hours):
        cycle = 1 + 0.6 * np.cos(2 * np.pi * (h % 24 - 20) / 24)
        share = 0.5 if h < 6 else 0.8  # the bandit moves traffic to A
        for code, p, n in ((A, p_a, int(1500 * share)), (B, p_b, int(1500 * (1 - share)))):
            rows.append(
                HourlyMetric(
                    "EXP-01", code, T0 + timedelta(hours=h), n, int(rng.binomial(n, p * cycle))
                )
            )
    return rows


def test_report_says_winner_only_under_the_rule() -> None:
    exp = experiment(decision_rule=DecisionRule(0.95, 0.01, 3))
    early = build_report(exp, metrics(8, 0.067, 0.058))
    assert early.decision.status.value in ("collecting", "leader")
    text = report_markdown(early)
    assert "winner" not in text.split("**Decision:")[1].split("**")[0]
    late = build_report(exp, metrics(96, 0.067, 0.058))
    assert late.decision.status.value == "winner" and late.decision.leader == A
    assert "**Decision: winner: EXP-01-APS002-01" in report_markdown(late)
    data = report_dict(late)
    by_code = {m["model_code"]: m for m in data["models"]}
    # pooled and stratified side by side; stratified interval around its estimate
    low, high = by_code[B]["stratified_ctr_interval"]
    assert low < by_code[B]["stratified_ctr"] < high
    assert by_code[A]["lift"] is None and by_code[B]["lift"]["relative"] < 0
    assert sum(m["p_best"] for m in data["models"]) == pytest.approx(1.0, abs=1e-6)


def test_identical_models_are_not_crowned() -> None:
    report = build_report(experiment(), metrics(72, 0.062, 0.062, seed=3))
    assert report.decision.status.value != "winner"
    assert report.hours_to_decision is None or report.hours_to_decision > 0


def test_report_without_metrics_is_collecting() -> None:
    report = build_report(experiment(), [])
    assert report.decision.status.value == "collecting"
    assert "(no impressions yet)" in report_markdown(report)
    assert report_dict(report)["models"] == []


def _seed_store(store: MongoStore) -> None:
    store.save_area(area())
    store.create_experiment(experiment(), by="test")
    rows = metrics(30, 0.067, 0.058)
    store.replace_hourly_metrics("EXP-01", sorted({r.hour for r in rows}), rows)
    store.save_parameter_batch(
        ParameterBatch(
            experiment_id="EXP-01",
            batch_id="20261121T0600",
            window_start=T0 + timedelta(hours=6),
            window_end=T0 + timedelta(hours=30),
            arms=(BatchArm(A, 10, 100, 0.9, 0.9), BatchArm(B, 5, 100, 0.1, 0.1)),
            warmup=False,
            data_quality={"orphan_clicks": 3, "duplicates": 1},
            srm={"unit": "members", "p_value": 0.42, "mismatch": False},
        )
    )


def test_dynab_report_markdown_and_json(
    mongo_server: EmbeddedMongo, mongo_db: Database, store: MongoStore, capsys
) -> None:
    _seed_store(store)
    uri = f"{mongo_server.uri}{mongo_db.name}"
    assert main(["report", "--experiment", "EXP-01", "--mongodb-uri", uri]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# Decision report: EXP-01")
    assert "SRM (members, batch 20261121T0600): p = 0.42, ok." in out
    assert "orphan_clicks 3" in out and "stratified CTR" in out
    assert main(["report", "--experiment", "EXP-01", "--json", "--mongodb-uri", uri]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["srm"] == {
        "unit": "members",
        "p_value": 0.42,
        "mismatch": False,
        "batch_id": "20261121T0600",
    }
    assert [m["impressions"] for m in data["models"]] == [
        sum(r.impressions for r in metrics(30, 0.067, 0.058) if r.model_code == code)
        for code in (A, B)
    ]
    assert data["decision"]["status"] in ("collecting", "leader", "winner", "no-difference")
    assert data["decision"]["rule"] == DecisionRule().to_dict()


def test_dynab_report_unknown_experiment_is_one_line(
    mongo_server: EmbeddedMongo, mongo_db: Database, capsys
) -> None:
    uri = f"{mongo_server.uri}{mongo_db.name}"
    assert main(["report", "--experiment", "EXP-99", "--mongodb-uri", uri]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("dynab report: error:")


def test_decision_document_for_a_batch() -> None:
    doc = decision_document(
        experiment(decision_rule=DecisionRule(0.95, 0.01, 3)), metrics(96, 0.067, 0.058)
    )
    assert doc["status"] == "winner" and doc["model_code"] == A
    assert doc["since_batch"] is not None and doc["rule"]["consecutive_batches"] == 3
    json.dumps(doc)  # storable as is
