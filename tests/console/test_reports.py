"""services.reports: the pure functions behind the console's tables and charts."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from services.experiments import Area, ExperimentType, Status
from services.hourly_metrics import HourlyMetric
from services.parameters import BatchArm, ParameterBatch
from services.reports import (
    batch_alerts,
    batch_history_frame,
    daily_winner_frame,
    density_frame,
    hourly_frame,
    is_batch_stale,
    latest_window,
    leader_from_batch,
    posterior_table,
    realtime_winner,
    summarise_area,
    window_counts,
)
from services.statistics import ArmCounts
from tests.foundation.factories import experiment

T0 = datetime(2026, 11, 27, 0, 0)


def m(code: str, hour: int, impressions: int, clicks: int, orders: int = 0) -> HourlyMetric:
    return HourlyMetric("EXP-01", code, T0 + timedelta(hours=hour), impressions, clicks, orders)


def batch(p_best: tuple[float | None, float | None] = (0.9, 0.1), **kw: object) -> ParameterBatch:
    values: dict[str, object] = {
        "experiment_id": "EXP-01",
        "batch_id": "b1",
        "window_start": T0,
        "window_end": T0 + timedelta(hours=24),
        "arms": (
            BatchArm("A", 300, 4700, p_best[0], 0.9),
            BatchArm("B", 250, 4750, p_best[1], 0.1),
        ),
        "warmup": False,
        "created_at": T0 + timedelta(hours=24, minutes=5),
    }
    values.update(kw)
    return ParameterBatch(**values)  # type: ignore[arg-type]


def test_hourly_frame_fills_missing_models_and_computes_shares_and_cumulative_ctr() -> None:
    frame = hourly_frame([m("A", 0, 100, 10), m("A", 1, 300, 30), m("B", 1, 100, 5)], ["A", "B"])
    assert len(frame) == 4  # B had no row in hour 0 and gets zeros
    hour1 = frame[frame["hour"] == T0 + timedelta(hours=1)].set_index("model_code")
    assert hour1.loc["A", "traffic_share"] == pytest.approx(0.75)
    assert hour1.loc["B", "ctr"] == pytest.approx(0.05)
    assert hour1.loc["A", "cumulative_ctr"] == pytest.approx(40 / 400)
    hour0 = frame[frame["hour"] == T0].set_index("model_code")
    assert hour0.loc["B", "impressions"] == 0 and hour0.loc["B", "ctr"] == 0.0


def test_hourly_frame_of_nothing_is_empty() -> None:
    assert hourly_frame([]).empty


def test_window_counts_and_latest_window() -> None:
    rows = [m("A", h, 100, h) for h in range(30)]
    start, end = latest_window(rows, 24)  # type: ignore[misc]
    assert end == T0 + timedelta(hours=30) and start == T0 + timedelta(hours=6)
    counts = window_counts(rows, ["A", "B"], start, end)
    assert counts["A"] == ArmCounts(2400, sum(range(6, 30)), 0)
    assert counts["B"] == ArmCounts(0, 0, 0)
    assert latest_window([], 24) is None


def test_daily_winner_uses_each_days_own_data() -> None:
    rows = [m("A", 1, 1000, 80), m("B", 1, 1000, 40), m("A", 25, 1000, 40), m("B", 25, 1000, 80)]
    daily = daily_winner_frame(rows, ["A", "B"])
    won = daily[daily["leader"]]
    winners = dict(zip(won["day"], won["model_code"], strict=True))
    assert winners == {date(2026, 11, 27): "A", date(2026, 11, 28): "B"}
    assert daily["day"].iloc[0] == date(2026, 11, 28)  # newest first
    day1 = daily[daily["day"] == date(2026, 11, 27)]
    assert day1["p_best"].sum() == pytest.approx(1.0, abs=1e-6)
    assert day1.set_index("model_code").loc["A", "p_best"] > 0.99


def test_realtime_winner_gives_lift_for_treatments_only() -> None:
    counts = {"A": ArmCounts(20000, 1000), "B": ArmCounts(20000, 1200)}
    rt = realtime_winner(counts, "A", T0, T0 + timedelta(hours=24), seed=7, draws=20_000)
    assert rt.leader is not None and rt.leader.model_code == "B"
    control, treatment = rt.arms
    assert control.lift is None
    assert treatment.lift is not None
    assert treatment.lift.low < treatment.lift.mean < treatment.lift.high
    assert treatment.lift.mean == pytest.approx(0.2, abs=0.01)
    assert treatment.lift.seed == 7
    assert list(rt.frame()["model_code"]) == ["A", "B"]


def test_realtime_winner_without_impressions_has_no_leader() -> None:
    counts = {"A": ArmCounts(0, 0), "B": ArmCounts(0, 0)}
    assert realtime_winner(counts, "A", T0, T0, draws=1000).leader is None


def test_posterior_table_and_density_cover_every_model() -> None:
    params = {"A": (1972, 29274 - 1972), "B": (430, 7390 - 430)}
    table = posterior_table(params).set_index("model_code")
    assert table.loc["A", "mean"] == pytest.approx(1973 / 29276)
    assert table.loc["A", "low"] < table.loc["A", "mean"] < table.loc["A", "high"]
    assert table.loc["A", "p_best"] > 0.99  # the seed's worked example: A right of B
    assert table.loc["A", "expected_loss"] < table.loc["B", "expected_loss"]
    density = density_frame(params)
    assert set(density["model_code"]) == {"A", "B"}
    assert (density["density"] >= 0).all()


def test_batch_history_uses_stored_p_best_and_computes_missing_ones() -> None:
    frame = batch_history_frame([batch(), batch((None, None), batch_id="b2", warmup=True)])
    stored = frame[frame["batch_id"] == "b1"].set_index("model_code")
    computed = frame[frame["batch_id"] == "b2"].set_index("model_code")
    assert stored.loc["A", "p_best"] == 0.9
    assert 0.9 < computed.loc["A", "p_best"] < 1.0
    assert computed["p_best"].sum() == pytest.approx(1.0, abs=1e-6)


def test_leader_from_batch() -> None:
    leader = leader_from_batch(batch((0.2, 0.8)))
    assert leader is not None and (leader.model_code, leader.p_best) == ("B", 0.8)


@pytest.mark.parametrize(
    ("srm", "expected"),
    [
        ({"mismatch": True, "p_value": 1e-6}, True),
        ({"p_value": 1e-5}, True),
        ({"p_value": 0.3}, False),
        ({"mismatch": False, "p_value": 1e-9}, False),  # the job's own verdict wins
        (None, False),
    ],
)
def test_srm_alert(srm: dict | None, expected: bool) -> None:
    kinds = [a.kind for a in batch_alerts(batch(srm=srm))]
    assert ("srm" in kinds) is expected


def test_data_quality_counts_over_the_threshold_alert() -> None:
    alerts = batch_alerts(
        batch(data_quality={"orphan_clicks": 101, "duplicates": 100}), data_quality_threshold=100
    )
    assert [a.kind for a in alerts] == ["data_quality"]
    assert "orphan_clicks = 101" in alerts[0].message


def test_stale_after_two_batch_intervals() -> None:
    last = T0
    assert not is_batch_stale(last, T0 + timedelta(minutes=120), 60)
    assert is_batch_stale(last, T0 + timedelta(minutes=121), 60)


def test_summarise_area_flags_a_stale_running_experiment() -> None:
    exp = experiment(status=Status.RUNNING, arms=experiment().arms)
    area = Area("MAIN", "A", "Main")
    b = batch()
    fresh = summarise_area(area, exp, b, None, b.created_at + timedelta(minutes=30))
    stale = summarise_area(area, exp, b, None, b.created_at + timedelta(hours=5))
    assert not fresh.stale and fresh.leader is not None and fresh.leader.model_code == "A"
    assert stale.stale and [a.kind for a in stale.alerts] == ["stale"]


def test_summarise_area_without_batch_uses_window_counts() -> None:
    exp = experiment(status=Status.RUNNING, type=ExperimentType.STATIC)
    codes = exp.model_codes
    window = {codes[0]: ArmCounts(1000, 30), codes[1]: ArmCounts(1000, 90)}
    summary = summarise_area(Area("MAIN", "A"), exp, None, window, T0)
    assert summary.leader is not None and summary.leader.model_code == codes[1]
    assert summary.leader.source == "window" and summary.alerts == ()
    idle = summarise_area(Area("CART", "A"), None, None, None, T0)
    assert idle.experiment_id is None and idle.leader is None
