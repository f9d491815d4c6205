"""Overview page: areas, leaders, batch freshness, alerts; and its empty states."""

from __future__ import annotations

from datetime import timedelta

from services.parameters import BatchArm, ParameterBatch
from tests.console.conftest import NOW, frame, texts
from tests.foundation.factories import area


def areas_table(at):
    return frame(at, "area").set_index("area")


def test_no_areas_tells_how_to_create_them(make_app) -> None:
    at = make_app()
    assert not at.exception
    assert "dynab demo-data" in texts(at, "info")[0]


def test_areas_without_experiments(make_app, store) -> None:
    store.save_area(area("MAIN"))
    at = make_app()
    table = areas_table(at)
    assert table.loc["MAIN", "status"] == "idle"
    assert any("Create and start one" in t for t in texts(at, "info"))


def test_demo_areas_show_leader_and_fresh_batch(make_app, demo) -> None:
    at = make_app()
    assert not at.exception
    table = areas_table(at)
    assert table.loc["MAIN", "experiment"] == "EXP-01"
    assert table.loc["MAIN", "status"] == "running"
    assert table.loc["MAIN", "leader"] == "EXP-01-APS002-01"  # true CTR 6.7% vs 5.8%
    assert table.loc["MAIN", "P(best)"] > 50  # percent
    assert not table.loc["MAIN", "stale"]
    # The static test has no batches: its leader comes from the hourly window.
    assert table.loc["DETAIL", "leader"] in ("LF001-01", "NCF-02")
    assert table.loc["CART", "status"] == "idle"
    assert table.loc["CART", "last batch (UTC)"] == "—"  # no batch: a dash, not "None"
    assert not at.error


def test_alerts_for_stale_batch_srm_and_data_quality(make_app, demo) -> None:
    last = demo.parameter_history("EXP-01", limit=1)[-1]
    demo.save_parameter_batch(
        ParameterBatch(
            "EXP-01",
            "bad",
            last.window_start,
            last.window_end + timedelta(minutes=1),
            tuple(BatchArm(a.model_code, a.alpha, a.beta, a.p_best, a.weight) for a in last.arms),
            warmup=False,
            created_at=NOW - timedelta(hours=6),
            data_quality={"orphan_clicks": 5000, "duplicates": 3},
            srm={"p_value": 1e-7, "mismatch": True},
        )
    )
    at = make_app()
    errors = texts(at, "error")
    warnings = texts(at, "warning")
    assert any("sample ratio mismatch" in e for e in errors)
    assert any("no parameter batch since" in e for e in errors)
    assert any("orphan_clicks = 5,000" in w for w in warnings)
    assert not any("duplicates" in w for w in warnings)
    assert areas_table(at).loc["MAIN", "stale"]
    assert at.metric[3].value == "3"


def test_areas_table_shows_default_model_and_stale(make_app, demo) -> None:
    at = make_app(page="overview")
    assert not at.exception
    areas = frame(at, "area").set_index("area")
    assert areas.loc["MAIN", "default model"] == "EXP-01-APS002-01"
    assert areas.loc["CART", "default model"] == "CART-POP-01"
    assert "stale" in areas.columns
