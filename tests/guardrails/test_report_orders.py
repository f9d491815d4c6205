"""Order rate per model, with interval, beside the CTR in the decision report."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from scipy import stats

from services.experiments import Status
from services.hourly_metrics import HourlyMetric
from services.reports.decision import build_report, decision_frame, report_dict, report_markdown
from tests.foundation.factories import arms, experiment

T0 = datetime(2026, 11, 20)


def test_order_rates_and_intervals_are_reported() -> None:
    exp = experiment(
        arms=arms("CTRL", "M-A", "M-B"), status=Status.RUNNING, disabled_models=("M-B",)
    )
    metrics = [
        HourlyMetric("EXP-01", code, T0 + timedelta(hours=h), 2000, 100, orders)
        for h in range(10)
        for code, orders in (("CTRL", 10), ("M-A", 4), ("M-B", 8))
    ]
    report = build_report(exp, metrics)
    models = {m["model_code"]: m for m in report_dict(report)["models"]}
    # Flat shares and rates: the stratified order rate is orders / impressions.
    assert models["CTRL"]["orders"] == 100
    assert models["CTRL"]["order_rate"] == pytest.approx(100 / 20000)
    assert models["M-A"]["order_rate"] == pytest.approx(40 / 20000)
    # The interval is the Beta(1 + orders, 1 + impressions - orders) one for flat traffic.
    low, high = models["M-A"]["order_rate_interval"]
    ref = stats.beta(1 + 40, 1 + 20000 - 40)
    assert low == pytest.approx(ref.ppf(0.025), rel=1e-3)
    assert high == pytest.approx(ref.ppf(0.975), rel=1e-3)
    assert models["M-B"]["switched_off"] and not models["M-A"]["switched_off"]
    text = report_markdown(report)
    assert "order rate (95%)" in text
    assert "| M-B (switched off) |" in text
    assert "| 40 | 0.20% (0.15%-0.27%) |" in text
    frame = decision_frame(report).set_index("model")
    assert frame.loc["CTRL", "order rate"] == pytest.approx(0.005)


def test_overview_judges_data_quality_as_rates_when_the_volume_is_known() -> None:
    from services.parameters import BatchArm, ParameterBatch
    from services.reports.overview import batch_alerts

    def batch(counts):
        return ParameterBatch(
            "EXP-01",
            "B-1",
            T0,
            T0 + timedelta(hours=1),
            (BatchArm("CTRL", 1000, 19000, 0.5, 0.5), BatchArm("M-A", 1000, 19000, 0.5, 0.5)),
            False,
            data_quality=counts,
        )

    # The demo's warning: 107 duplicates at a 0.5 % rate is no alert once the volume is known.
    assert batch_alerts(batch({"duplicate_events": 107, "events": 21_400})) == []
    (alert,) = batch_alerts(batch({"duplicate_events": 2000, "events": 21_400}))
    assert "duplicate rate 8.5%" in alert.message and "limit 5.0%" in alert.message
    # Without the volume, the absolute threshold still applies (older batches).
    assert [a.kind for a in batch_alerts(batch({"duplicate_events": 107}))] == ["data_quality"]
