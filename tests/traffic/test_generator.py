"""The traffic generator: reproducible, realistic, and honest about what it injected."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pytest

from services.events import EventLogWriter, parse_line
from services.exceptions import ValidationError
from services.traffic import ArmSpec, TrafficConfig, generate, generate_hour, to_lines

START = datetime(2026, 11, 28, 9)
ARMS = (
    ArmSpec("EXP-01", "MAIN", "A", 0.10, 0.01),
    ArmSpec("EXP-01", "MAIN", "B", 0.05, 0.005, weight=3),
    ArmSpec("EXP-02", "CART", "C", 0.02),
)


def config(**overrides) -> TrafficConfig:
    values = {"arms": ARMS, "start": START, "hours": 2, "requests_per_hour": 20_000, "seed": 5}
    values.update(overrides)
    return TrafficConfig(**values)


def test_same_seed_same_bytes_and_another_seed_differs(tmp_path):
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        with EventLogWriter(tmp_path / name, writer_id="w") as writer:
            generate(config(seed=seed, duplicate_share=0.01, malformed_share=0.01), writer)
    read = {n: sorted(p.read_text() for p in (tmp_path / n).rglob("*.jsonl")) for n in "abc"}
    assert read["a"] == read["b"]
    assert read["a"] != read["c"]


def test_an_hour_does_not_depend_on_how_many_hours_are_generated():
    one = generate_hour(config(hours=1), 0)
    other = generate_hour(config(hours=5), 0)
    assert to_lines(one.events) == to_lines(other.events)


def test_rates_split_and_clicks_crossing_the_hour():
    hour = generate_hour(config(requests_per_hour=200_000), 0)
    imps = hour.events[hour.events.event_type == "impression"]
    by_model = imps.model_code.value_counts()
    # MAIN gets half the traffic; B has weight 3 against A's 1.
    assert by_model["B"] / (by_model["A"] + by_model["B"]) == pytest.approx(0.75, abs=0.01)
    truth = hour.truth.set_index("model_code")
    ctr = truth.clicks / truth.impressions
    assert ctr["A"] == pytest.approx(0.10, abs=0.005)
    assert ctr["B"] == pytest.approx(0.05, abs=0.004)
    clicks = hour.events[hour.events.event_type == "click"]
    next_hour = clicks.ts.str.startswith("2026-11-28T10")
    assert next_hour.sum() > 0  # some clicks land in the next hour's partition
    # Repeat visits: far fewer members than impressions.
    assert imps.member_id.nunique() < len(imps) / 2


def test_injected_problems_are_counted():
    hour = generate_hour(
        config(
            duplicate_share=0.01, orphan_click_share=0.1, malformed_share=0.01, late_click_share=0.2
        ),
        0,
    )
    counts = hour.counts
    assert counts["duplicates"] == hour.events.event_id.duplicated().sum() > 0
    orphans = hour.events[hour.events.request_id.str.contains("x")].drop_duplicates("event_id")
    assert counts["orphan_clicks"] == len(orphans) > 0
    assert counts["late_clicks"] > 0
    bad = 0
    for line in hour.malformed:
        with pytest.raises(ValidationError):
            parse_line(line)
        bad += 1
    assert bad == counts["malformed_lines"] > 0
    for line in to_lines(hour.events.head(200)):
        parse_line(line)


def test_a_callback_chooses_the_model():
    seen = []

    def choose(member_id, area_code, ts):
        seen.append((member_id, area_code, ts))
        if area_code == "CART":
            return None, None  # nothing runs there: not logged
        return "EXP-01", "A"

    hour = generate_hour(config(requests_per_hour=500), 0, choose)
    imps = hour.events[hour.events.event_type == "impression"]
    assert set(imps.model_code) == {"A"}
    assert len(seen) == 500 and len(imps) == sum(1 for s in seen if s[1] == "MAIN")
    assert all(START <= ts < datetime(2026, 11, 28, 10) for _, _, ts in seen)


def test_a_callback_returning_an_unknown_model_is_an_error():
    with pytest.raises(ValidationError, match="not one of the arms"):
        generate_hour(config(requests_per_hour=10), 0, lambda m, a, t: ("EXP-01", "Z"))


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"arms": ()}, "arms"),
        ({"arms": (ARMS[0], ARMS[0])}, "arms[1]"),
        ({"arms": (ARMS[0], ArmSpec("EXP-09", "MAIN", "Q", 0.1))}, "arms[1].experiment_id"),
        ({"hours": 0}, "hours"),
        ({"requests_per_hour": 1.5}, "requests_per_hour"),
        ({"seed": -1}, "seed"),
        ({"duplicate_share": 0.9}, "duplicate_share"),
        ({"click_delay_median_seconds": 0}, "click_delay_median_seconds"),
        ({"start": "2026-11-28"}, "start"),
    ],
)
def test_invalid_config(overrides, field):
    with pytest.raises(ValidationError) as err:
        config(**overrides)
    assert err.value.field == field


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"ctr": 1.5}, "ctr"),
        ({"ctr": 0.01, "order_rate": 0.02}, "order_rate"),
        ({"ctr": 0.1, "weight": 0}, "weight"),
        ({"ctr": float("nan")}, "ctr"),
    ],
)
def test_invalid_arm(kwargs, field):
    with pytest.raises(ValidationError) as err:
        ArmSpec("EXP-01", "MAIN", "A", **kwargs)
    assert err.value.field == field


def test_members_follow_the_skew():
    flat = generate_hour(config(member_skew=0.0, members=1000), 0).events
    skewed = generate_hour(config(member_skew=1.5, members=1000), 0).events
    top = lambda e: e.member_id.value_counts().iloc[0]  # noqa: E731
    assert top(skewed) > 5 * top(flat)
    assert np.all(flat.member_id.str.match(r"M\d{7}"))


def test_a_fixed_split_logs_each_impression_with_its_share():
    # GIVEN MAIN split 1:3 and CART with one arm WHEN an hour is written THEN every impression
    # line states its arm's share as the propensity and no batch; clicks and orders state none.
    hour = generate_hour(config(requests_per_hour=2000, hours=1), 0)
    share = {"A": 0.25, "B": 0.75, "C": 1.0}
    lines = [parse_line(line) for line in to_lines(hour.events)]
    impressions = [e for e in lines if e.event_type == "impression"]
    assert impressions and all(e.propensity == share[e.model_code] for e in impressions)
    assert all(e.batch_id is None for e in lines)
    assert all(e.propensity is None for e in lines if e.event_type != "impression")


def test_a_callback_answer_gives_the_batch_and_propensity_of_each_impression():
    def choose(member_id, area_code, ts):
        if area_code == "CART":
            return "EXP-02", "C"  # an answer without them: logged without them
        model = "A" if int(member_id[1:]) % 2 else "B"
        return "EXP-01", model, f"B-{ts:%H}", 0.4 if model == "A" else 0.6

    hour = generate_hour(config(requests_per_hour=600, hours=1), 0, choose)
    lines = [parse_line(line) for line in to_lines(hour.events)]
    main = [e for e in lines if e.event_type == "impression" and e.area_code == "MAIN"]
    cart = [e for e in lines if e.event_type == "impression" and e.area_code == "CART"]
    assert main and cart
    assert {(e.model_code, e.batch_id, e.propensity) for e in main} == {
        ("A", "B-09", 0.4),
        ("B", "B-09", 0.6),
    }
    assert {(e.batch_id, e.propensity) for e in cart} == {(None, None)}


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (("EXP-01", "A", "B-1", 0.0), "propensity"),
        (("EXP-01", "A", "B-1", 1.2), "propensity"),
        (("EXP-01", "A", "", 0.5), "batch_id"),
    ],
)
def test_a_callback_returning_a_bad_propensity_or_batch_is_an_error(answer, message):
    with pytest.raises(ValidationError, match=message):
        generate_hour(config(requests_per_hour=10), 0, lambda m, a, t: answer)
