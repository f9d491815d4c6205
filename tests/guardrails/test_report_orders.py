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
