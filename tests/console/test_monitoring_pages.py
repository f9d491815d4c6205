"""Live CTR, Winners and Posteriors pages: with data, and the empty states without."""

from __future__ import annotations

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


def test_winners_realtime_and_daily(make_app, demo) -> None:
    at = make_app(page="winners")
    assert not at.exception
    leader = at.metric[3].value  # after the decision's three metrics
    assert leader == "EXP-01-APS002-01"
    realtime = frame(at, "model_code").set_index("model_code")
    assert realtime.loc["EXP-01-APS002-01", "control"]
    assert realtime["lift"].isna().tolist() == [True, False]  # only the treatment has a lift
    ncf = realtime.loc["EXP-01-NCF-01"]
    assert ncf["lift_low"] < ncf["lift"] < ncf["lift_high"]
    assert realtime["p_best"].sum() == pytest.approx(1.0, abs=1e-6)
    summary = frame(at, "day")
    assert len(summary) >= 3 and set(summary["leader"]) <= set(realtime.index)
    assert len(at.get("vega_lite_chart")) == 1  # the lift intervals


def test_winners_shows_the_decision_with_stratified_beside_pooled(make_app, demo) -> None:
    at = make_app(page="winners")
    assert not at.exception
    status = at.metric[0].value
    assert status in {"collecting", "leader", "winner", "no-difference"}
    table = frame(at, "model").set_index("model")
    assert set(table.index) == {"EXP-01-APS002-01", "EXP-01-NCF-01"}
    for column in ("stratified ctr", "pooled ctr", "p_best", "expected_loss", "pooled p_best"):
        assert table[column].notna().all()
    assert (table["stratified low"] < table["stratified ctr"]).all()
    assert table["p_best"].sum() == pytest.approx(1.0, abs=1e-6)
    labels = " ".join(shown(m.value) for m in at.markdown)
    # "winner" only when the rule says so; otherwise "leading (P(best) ..., not decided)".
    assert ("winner:" in labels) == (status == "winner")
    if status == "leader":
        assert "not decided" in labels


def test_winners_daily_table_counts_match_the_days(make_app, demo) -> None:
    at = make_app(page="winners")
    daily = next(f for f in at.dataframe if "impressions" in f.value.columns and "day" in f.value)
    rows = daily.value
    metrics = demo.hourly_metrics("EXP-01")
    first_day = rows["day"].min()
    day_rows = rows[rows["day"] == first_day].set_index("model_code")
    for code in ("EXP-01-APS002-01", "EXP-01-NCF-01"):
        assert day_rows.loc[code, "impressions"] == sum(
            m.impressions for m in metrics if m.model_code == code and m.hour.date() == first_day
        )
    assert rows.groupby("day")["leader"].sum().eq(1).all()


def test_posteriors_from_the_latest_batch_with_history(make_app, demo) -> None:
    at = make_app(page="posteriors")
    assert not at.exception
    latest = demo.parameter_history("EXP-01")[-1]
    table = frame(at, "model_code").set_index("model_code")
    for arm in latest.arms:
        assert table.loc[arm.model_code, "alpha"] == arm.alpha
        assert table.loc[arm.model_code, "beta"] == arm.beta
        assert table.loc[arm.model_code, "95% low"] < table.loc[arm.model_code, "mean"]
    assert table["p_best"].sum() == pytest.approx(1.0, abs=1e-6)
    assert len(at.get("vega_lite_chart")) == 4  # densities, mean/interval, P(best), loss


def test_posteriors_of_an_earlier_batch(make_app, demo) -> None:
    at = make_app(page="posteriors")
    first = demo.parameter_history("EXP-01")[0]
    at.select_slider(key="posteriors_batch_EXP-01").set_value(first.batch_id).run()
    table = frame(at, "model_code").set_index("model_code")
    assert table.loc[first.arms[0].model_code, "alpha"] == first.arms[0].alpha


def test_posteriors_of_a_static_test_come_from_hourly_counts(make_app, demo) -> None:
    at = make_app(page="posteriors")
    at.selectbox(key="posteriors_experiment").select("EXP-02").run()
    assert any("No parameter batch" in c.value for c in at.caption)
    assert set(frame(at, "model_code")["model_code"]) == {"LF001-01", "NCF-02"}
    assert "The history appears after the second parameter batch." in texts(at, "info")
