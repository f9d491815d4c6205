# ruff: noqa: F811  (the console fixtures are imported, then requested by name)
"""Order rate per model, with its interval, beside the CTR on Live CTR, Posteriors and Winners.

The figures the pages show are compared with counts read straight from the ``hourly_metrics``
collection and with SciPy's Wilson interval (an implementation independent of the console's).
"""

from __future__ import annotations

import pytest
from scipy.stats import binomtest

from services.mongo import schema
from tests.console.conftest import (  # noqa: F401  (the console's AppTest fixtures)
    auth_secrets,
    console_db,
    demo,
    frame,
    make_app,
)


def counted(db, experiment_id: str, start=None, end=None) -> dict[str, tuple[int, int, int]]:
    """(impressions, clicks, orders) per model, summed from the stored documents."""
    query: dict = {"experiment_id": experiment_id}
    out: dict[str, list[int]] = {}
    for doc in db[schema.HOURLY_METRICS].find(query):
        if (start is not None and doc["hour"] < start) or (end is not None and doc["hour"] >= end):
            continue
        t = out.setdefault(doc["model_code"], [0, 0, 0])
        t[0] += doc["impressions"]
        t[1] += doc["clicks"]
        t[2] += doc["orders"]
    return {k: tuple(v) for k, v in out.items()}


def wilson(orders: int, n: int) -> tuple[float, float]:
    ci = binomtest(orders, n).proportion_ci(confidence_level=0.95, method="wilson")
    return float(ci.low), float(ci.high)


def pct2(value: float) -> str:
    return f"{value * 100:.2f}%"


def table_with(at, *columns: str):
    """The first table on the page with every one of ``columns``, indexed by model."""
    return next(
        f.value for f in at.dataframe if all(c in f.value.columns for c in columns)
    ).set_index("Model")


def test_live_ctr_totals_show_each_models_order_rate_and_interval(make_app, demo, console_db):
    at = make_app(page="live_ctr")
    assert not at.exception
    totals = frame(at, "model_code").set_index("model_code")
    truth = counted(console_db, "EXP-01")
    assert set(totals.index) == set(truth)
    for code, (n, clicks, orders) in truth.items():
        row = totals.loc[code]
        assert (row["impressions"], row["clicks"], row["orders"]) == (n, clicks, orders)
        assert row["ctr"] == pytest.approx(clicks / n)
        assert row["order_rate"] == pytest.approx(orders / n)
        low, high = wilson(orders, n)
        assert row["order_rate_low"] == pytest.approx(low, rel=1e-9)
        assert row["order_rate_high"] == pytest.approx(high, rel=1e-9)


def test_posteriors_show_the_order_rate_of_the_batch_window(make_app, demo, console_db):
    at = make_app(page="posteriors")
    assert not at.exception
    latest = demo.parameter_history("EXP-01")[-1]
    table = table_with(at, "Model", "Order rate")
    truth = counted(console_db, "EXP-01", latest.window_start, latest.window_end)
    for arm in latest.arms:
        n, _clicks, orders = truth[arm.model_code]
        assert table.loc[arm.model_code, "Order rate"] == pct2(orders / n)
        low, high = wilson(orders, n)
        assert table.loc[arm.model_code, "Order rate 95% interval"] == (
            f"{pct2(low)} – {pct2(high)}"
        )


def test_posteriors_of_an_earlier_batch_count_that_batchs_window(make_app, demo, console_db):
    at = make_app(page="posteriors")
    first = demo.parameter_history("EXP-01")[0]
    at.select_slider(key="posteriors_batch_EXP-01").set_value(first.batch_id).run()
    table = table_with(at, "Model", "Order rate")
    truth = counted(console_db, "EXP-01", first.window_start, first.window_end)
    code = first.arms[0].model_code
    n, _clicks, orders = truth[code]
    assert table.loc[code, "Order rate"] == pct2(orders / n)


def test_winners_show_the_order_rate_beside_the_ctr(make_app, demo, console_db):
    at = make_app(page="winners")
    assert not at.exception
    # The decision's second table: pooled CTR and P(best), then the order rate and its interval
    table = table_with(at, "Model", "Pooled CTR", "Order rate")
    truth = counted(console_db, "EXP-01")
    for code, (n, _clicks, orders) in truth.items():
        # Hour-stratified like the CTR beside it: close to the pooled count, inside its interval.
        shown = float(table.loc[code, "Order rate"].rstrip("%")) / 100
        assert shown == pytest.approx(orders / n, abs=0.0005)
        low, high = (
            float(x.rstrip("%")) / 100
            for x in table.loc[code, "Order rate 95% interval"].split(" – ")
        )
        assert low <= shown <= high
