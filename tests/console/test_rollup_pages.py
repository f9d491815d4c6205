"""The pages read the aggregates kept at write time and show what the hourly data gives.

Winners' decision table against the report built from every raw hourly document, Live CTR's
totals after late clicks replaced an old hour, a long Live CTR range charted by day, and
Posteriors' batch history from the figures stored with the batches.
"""

from __future__ import annotations

from datetime import timedelta

import streamlit as st

from console import formats as fmt
from dynab.demo import install_history
from services.hourly_metrics import HourlyMetric
from services.mongo import schema
from services.reports.decision import build_report, decision_frame
from tests.console.conftest import NOW, frame


def test_winners_decision_table_equals_the_report_from_raw_hourly_rows(make_app, demo) -> None:
    at = make_app(page="winners")
    assert not at.exception
    exp = demo.get_experiment("EXP-01")
    slow = build_report(exp, demo.hourly_metrics("EXP-01"), demo.parameter_history("EXP-01"))
    expected = fmt.decision_table(decision_frame(slow))
    shown = frame(at, "Model")
    assert shown.to_dict("records") == expected[list(shown.columns)].to_dict("records")
    assert at.metric[0].value == slow.decision.status.value


def test_live_ctr_totals_follow_late_clicks_in_an_old_hour(make_app, demo) -> None:
    exp_id = "EXP-01"
    hour = NOW - timedelta(days=2, hours=3)
    late = [
        HourlyMetric(exp_id, m.model_code, hour, m.impressions + 100, m.clicks + 60, m.orders)
        for m in demo.hourly_metrics(exp_id, start=hour, end=hour + timedelta(hours=1))
    ]
    demo.replace_hourly_metrics(exp_id, [hour], late)
    st.cache_data.clear()
    at = make_app(page="live_ctr")
    totals = frame(at, "model_code").set_index("model_code")
    raw = list(demo.db[schema.HOURLY_METRICS].find({"experiment_id": exp_id}))
    assert totals["clicks"].sum() == sum(d["clicks"] for d in raw)
    assert totals["impressions"].sum() == sum(d["impressions"] for d in raw)
    hourly = frame(at, "hour")
    row = hourly[(hourly["hour"] == hour) & (hourly["model_code"] == late[0].model_code)]
    assert int(row["clicks"].iloc[0]) == late[0].clicks


def test_live_ctr_charts_a_long_range_by_day(make_app, store, demo) -> None:
    # Twenty days of history for EXP-01 (the demo's three, and seventeen before them).
    install_history(store, store.get_experiment("EXP-01"), NOW, 20, seed=11)
    st.cache_data.clear()
    at = make_app(page="live_ctr")
    rows = store.hourly_metrics("EXP-01")
    first, last = rows[0].hour.date(), rows[-1].hour.date()
    at.date_input(key="live_ctr_dates_EXP-01").set_value((first, last)).run()
    assert not at.exception
    assert "Daily CTR" in [h.value for h in at.subheader]
    daily = frame(at, "hour")
    assert len(daily) == ((last - first).days + 1) * 2  # a row a day and model
    one = daily.iloc[0]
    assert one["clicks"] == sum(
        m.clicks
        for m in rows
        if m.hour.date() == one["hour"].date() and m.model_code == one["model_code"]
    )


def test_posteriors_history_stores_each_batch_figures_once(make_app, demo) -> None:
    col = demo.db[schema.PARAMETER_BATCHES]
    at = make_app(page="posteriors")
    assert not at.exception
    assert len(at.get("vega_lite_chart")) == 4  # densities, history, P(best), loss
    shown = {b.batch_id for b in demo.parameter_history("EXP-01")}
    stored = {d["batch_id"] for d in col.find({"figures": {"$exists": True}}, {"batch_id": 1})}
    assert stored == shown
