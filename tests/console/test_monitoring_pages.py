"""Live CTR, Winners and Posteriors pages: with data, and the empty states without."""

from __future__ import annotations

from datetime import datetime

import pytest

from tests.console.conftest import frame, shown, texts
from tests.foundation.factories import area, experiment

PAGES = ["live_ctr", "winners", "posteriors"]


@pytest.mark.parametrize("page", PAGES)
def test_without_experiments_points_to_the_experiments_page(make_app, page) -> None:
    at = make_app(page=page)
    assert not at.exception
    assert texts(at, "info") == [
        "No experiments yet: create and start one on the Experiments page."
    ]


@pytest.mark.parametrize("page", PAGES)
def test_an_experiment_without_traffic_says_what_comes_next(make_app, store, page) -> None:
    store.save_area(area("MAIN"))
    store.create_experiment(experiment(), by="seed")
    at = make_app(page=page)
    assert not at.exception
    assert not at.get("vega_lite_chart")
    (message,) = texts(at, "info")
    assert "EXP-01" in message and "parameter job" in message


def test_live_ctr_charts_and_totals(make_app, demo) -> None:
    at = make_app(page="live_ctr")
    assert not at.exception
    assert at.selectbox(key="live_ctr_experiment").value == "EXP-01"
    assert len(at.get("vega_lite_chart")) == 3  # hourly CTR, traffic share, cumulative CTR
    totals = frame(at, "model_code").set_index("model_code")
    expected = demo.hourly_metrics("EXP-01")
    assert totals["impressions"].sum() == sum(m.impressions for m in expected)
    assert totals["clicks"].sum() == sum(m.clicks for m in expected)
    assert totals["orders"].sum() == sum(m.orders for m in expected)
    hourly = frame(at, "hour")
    assert len(hourly) == 3 * 24 * 2  # three days, two models


def test_live_ctr_date_range_limits_the_hours(make_app, demo) -> None:
    at = make_app(page="live_ctr")
    last = max(m.hour for m in demo.hourly_metrics("EXP-01")).date()
    at.date_input(key="live_ctr_dates_EXP-01").set_value((last, last)).run()
    assert len(frame(at, "hour")) == 9 * 2  # the demo history ends at 09:00 on the last day


def test_live_ctr_auto_refresh_can_be_switched_on(make_app, demo) -> None:
    at = make_app(page="live_ctr")
    at.toggle(key="live_ctr_auto_refresh").set_value(True).run()
    assert not at.exception
    assert len(at.get("vega_lite_chart")) == 3


def test_live_ctr_other_experiment(make_app, demo) -> None:
    at = make_app(page="live_ctr")
    at.selectbox(key="live_ctr_experiment").select("EXP-02").run()
    assert set(frame(at, "model_code")["model_code"]) == {"LF001-01", "NCF-02"}


def _pct(text: str) -> float:
    """'6.7%' or '+3.2%' → 0.067 / 0.032 (the console's one number format)."""
    return float(text.rstrip("%")) / 100


def test_winners_realtime_and_daily(make_app, demo) -> None:
    at = make_app(page="winners")
    assert not at.exception
    leader = at.metric[3].value  # after the decision's three metrics
    assert leader == "EXP-01-APS002-01"
    lifts = next(f.value for f in at.dataframe if "P(better than control)" in f.value.columns)
    # The window's table of models (the decision's own table has the lift in it).
    models = next(
        f.value
        for f in at.dataframe
        if "Expected loss" in f.value.columns and "Lift vs control" not in f.value.columns
    )
    realtime = models.set_index("Model").join(lifts.set_index("Model"))
    # The control row says "control" and shows "—" where a figure does not apply, never None.
    assert realtime.loc["EXP-01-APS002-01", "Role"] == "control"
    assert realtime.loc["EXP-01-APS002-01", "Lift vs control"] == "—"
    assert not realtime.isna().any().any()
    assert "None" not in realtime.astype(str).to_numpy().ravel().tolist()
    ncf = realtime.loc["EXP-01-NCF-01"]
    low, high = (_pct(x) for x in ncf["Lift 95% interval"].split(" – "))
    assert low < _pct(ncf["Lift vs control"]) < high
    assert sum(_pct(p) for p in realtime["P(best)"]) == pytest.approx(1.0, abs=0.002)
    assert all(v.endswith(" pp") for v in realtime["Expected loss"])
    summary = frame(at, "Day (UTC)")
    assert len(summary) >= 3 and set(summary["Leader"]) <= set(realtime.index)
    assert len(at.get("vega_lite_chart")) == 1  # the lift intervals


def test_winners_shows_the_decision_with_stratified_beside_pooled(make_app, demo) -> None:
    at = make_app(page="winners")
    assert not at.exception
    status = at.metric[0].value
    assert status in {"collecting", "leader", "winner", "no-difference"}
    table = frame(at, "Model").set_index("Model")
    assert set(table.index) == {"EXP-01-APS002-01", "EXP-01-NCF-01"}
    pooled = next(f.value for f in at.dataframe if "Pooled CTR" in f.value).set_index("Model")
    assert list(pooled.index) == list(table.index)
    # The rule's figures, then the pooled ones beside them (a table each: both fit the page).
    assert "Pooled CTR" not in table and "CTR" not in pooled
    table = table.join(pooled)
    for column in ("CTR", "Pooled CTR", "P(best)", "Expected loss", "Pooled P(best)"):
        assert (table[column] != "—").all()
    for ctr, band in zip(table["CTR"], table["CTR 95% interval"], strict=True):
        low, high = (_pct(x) for x in band.split(" – "))
        assert low < _pct(ctr) < high
        assert len(ctr.split(".")[1]) == 2  # one decimal: "6.7%"
    assert sum(_pct(p) for p in table["P(best)"]) == pytest.approx(1.0, abs=0.002)
    labels = " ".join(shown(m.value) for m in at.markdown)
    # "winner" only when the rule says so; otherwise "leading (P(best) ..., not decided)".
    assert ("winner:" in labels) == (status == "winner")
    if status == "leader":
        assert "not decided" in labels


def test_winners_stopped_test_shows_its_final_result(make_app, demo) -> None:
    exp = demo.get_experiment("EXP-01")
    demo.apply_action(
        "EXP-01", "stop", expected_version=exp.version, by="t", promoted_model="EXP-01-NCF-01"
    )
    at = make_app(page="winners")
    at.selectbox(key="winners_experiment").select("EXP-01").run()  # running tests come first
    assert not at.exception
    headers = [h.value for h in at.subheader]
    assert "Final result" in headers and "Decision" not in headers
    assert not any(h.startswith("Right now") for h in headers)
    assert any("promoted model: EXP-01-NCF-01" in shown(s.value) for s in at.success)


def test_winners_daily_table_counts_match_the_days(make_app, demo) -> None:
    at = make_app(page="winners")
    rows = next(
        f.value for f in at.dataframe if "Impressions" in f.value and "Day (UTC)" in f.value
    )
    metrics = demo.hourly_metrics("EXP-01")
    first_day = rows["Day (UTC)"].min()
    day_rows = rows[rows["Day (UTC)"] == first_day].set_index("Model")
    for code in ("EXP-01-APS002-01", "EXP-01-NCF-01"):
        assert day_rows.loc[code, "Impressions"] == sum(
            m.impressions for m in metrics if m.model_code == code and m.hour.date() == first_day
        )
    assert rows.groupby("Day (UTC)")["Leader"].sum().eq(1).all()


def test_posteriors_from_the_latest_batch_with_history(make_app, demo) -> None:
    at = make_app(page="posteriors")
    assert not at.exception
    latest = demo.parameter_history("EXP-01")[-1]
    table = frame(at, "Model").set_index("Model")
    for arm in latest.arms:
        assert table.loc[arm.model_code, "Clicks (alpha)"] == arm.alpha
        assert table.loc[arm.model_code, "Non-clicks (beta)"] == arm.beta
        low = table.loc[arm.model_code, "CTR 95% interval"].split(" – ")[0]
        assert _pct(low) <= _pct(table.loc[arm.model_code, "Posterior mean CTR"])
    assert sum(_pct(p) for p in table["P(best)"]) == pytest.approx(1.0, abs=0.002)
    assert all(v.endswith(" pp") for v in table["Expected loss"])  # as on Winners
    assert len(at.get("vega_lite_chart")) == 4  # densities, mean/interval, P(best), loss


def test_posteriors_of_an_earlier_batch(make_app, demo) -> None:
    at = make_app(page="posteriors")
    first = demo.parameter_history("EXP-01")[0]
    at.select_slider(key="posteriors_batch_EXP-01").set_value(first.batch_id).run()
    table = frame(at, "Model").set_index("Model")
    assert table.loc[first.arms[0].model_code, "Clicks (alpha)"] == first.arms[0].alpha


def test_posteriors_of_a_static_test_come_from_hourly_counts(make_app, demo) -> None:
    # before the job's first batch of the static test
    demo.db["parameter_batches"].delete_many({"experiment_id": "EXP-02"})
    at = make_app(page="posteriors")
    at.selectbox(key="posteriors_experiment").select("EXP-02").run()
    assert any("No parameter batch" in c.value for c in at.caption)
    assert set(frame(at, "Model")["Model"]) == {"LF001-01", "NCF-02"}
    assert "The history appears after the second parameter batch." in texts(at, "info")


def test_live_ctr_hourly_chart_has_bands_palette_and_audit_markers(make_app, demo) -> None:
    # A guardrail's weight change in the hours shown (written as the store's audit entries are).
    demo.db["audit_log"].insert_one(
        {
            "experiment_id": "EXP-01",
            "action": "weights",
            "by": "guardrail",
            "at": datetime(2026, 11, 28, 3),
            "before": None,
            "after": None,
        }
    )
    at = make_app(page="live_ctr")
    at.selectbox(key="live_ctr_experiment").select("EXP-01").run()
    assert not at.exception
    spec = at.get("vega_lite_chart")[0].proto.spec
    assert "ctr_low" in spec and "ctr_high" in spec  # the interval band
    assert "tableau10" in spec
    assert '"rule"' in spec  # the guardrail's change is marked on the time axis
    # Every chart can be saved as PNG and SVG.
    keys = [b.proto.id for b in at.get("download_button")]
    assert sum("export_png" in k for k in keys) == len(at.get("vega_lite_chart"))
    assert sum("export_svg" in k for k in keys) == len(at.get("vega_lite_chart"))
