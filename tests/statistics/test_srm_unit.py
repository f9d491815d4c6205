"""SRM on the assignment unit: per-batch weights, the unit's field, unknown batches, errors."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import numpy as np
import pytest
from scipy import stats

from services.exceptions import ValidationError
from services.statistics.srm import UNKNOWN_BATCH, srm_by_batch

T0 = datetime(2026, 11, 28, 9)
A, B, C = "A-01", "B-01", "C-01"


def row(model: str, hour: int, *, members=None, impressions=None) -> dict:
    out: dict = {"experiment_id": "EXP-01", "model_code": model, "hour": T0 + timedelta(hours=hour)}
    if members is not None:
        out["first_members_by_batch"] = members
    if impressions is not None:
        out["impressions_by_batch"] = impressions
    return out


def test_members_against_each_batch_match_scipy_chisquare() -> None:
    # GIVEN three arms, two batches with different weights, members first seen under each
    rows = [
        row(A, 0, members={"b1": 310}),
        row(B, 0, members={"b1": 290}),
        row(C, 0, members={"b1": 420}),
        row(A, 1, members={"b2": 150, "b1": 12}),
        row(B, 1, members={"b2": 480, "b1": 9}),
        row(C, 1, members={"b2": 395, "b1": 17}),
    ]
    weights = {"b1": {A: 0.3, B: 0.3, C: 0.4}, "b2": {A: 0.15, B: 0.45, C: 0.4}}
    got = srm_by_batch(rows, (A, B, C), unit="members", weights_by_batch=weights)
    # THEN the expected counts are sum over batches of members x weights, and the statistic and
    # p-value are scipy's goodness of fit on those counts.
    n1, n2 = 310 + 290 + 420 + 12 + 9 + 17, 150 + 480 + 395
    expected = np.array([0.3, 0.3, 0.4]) * n1 + np.array([0.15, 0.45, 0.4]) * n2
    observed = np.array([310 + 150 + 12, 290 + 480 + 9, 420 + 395 + 17])
    reference = stats.chisquare(observed, expected)
    assert got.observed == tuple(observed)
    assert got.expected == pytest.approx(tuple(expected), rel=1e-12)
    assert got.chi2 == pytest.approx(reference.statistic, rel=1e-10)
    assert got.p_value == pytest.approx(reference.pvalue, rel=1e-9)
    assert (got.unit, got.dof, got.batches, got.excluded) == ("members", 2, ("b1", "b2"), 0)


def test_the_unit_decides_which_field_is_counted() -> None:
    # Members balanced 1000/1000 but impressions 1400/1000 (one arm drew the heavy visitors).
    rows = [
        row(A, 0, members={"b1": 1000}, impressions={"b1": 14_000}),
        row(B, 0, members={"b1": 1000}, impressions={"b1": 10_000}),
    ]
    weights = {"b1": {A: 0.5, B: 0.5}}
    members = srm_by_batch(rows, (A, B), unit="members", weights_by_batch=weights)
    impressions = srm_by_batch(rows, (A, B), unit="impressions", weights_by_batch=weights)
    assert (members.unit, members.observed, members.mismatch) == ("members", (1000, 1000), False)
    assert (impressions.unit, impressions.observed) == ("impressions", (14_000, 10_000))
    assert impressions.mismatch


def test_each_impression_is_judged_by_the_batch_it_was_served_under() -> None:
    # GIVEN an hour served 20 minutes under b1 (50/50) and 40 minutes under b2 (80/20)
    rows = [
        row(A, 0, impressions={"b1": 1000, "b2": 3200}),
        row(B, 0, impressions={"b1": 1000, "b2": 800}),
    ]
    weights = {"b1": {A: 0.5, B: 0.5}, "b2": {A: 0.8, B: 0.2}}
    got = srm_by_batch(rows, (A, B), unit="impressions", weights_by_batch=weights)
    assert got.expected == pytest.approx((4200.0, 1800.0))
    assert not got.mismatch
    # Judged by one set of weights for the whole hour (the top of the hour's), it would flag.
    pooled = srm_by_batch(
        [row(A, 0, impressions={"b1": 4200}), row(B, 0, impressions={"b1": 1800})],
        (A, B),
        unit="impressions",
        weights_by_batch=weights,
    )
    assert pooled.mismatch


def test_a_static_split_counts_every_batch_and_unbatched_members() -> None:
    rows = [
        row(A, 0, members={UNKNOWN_BATCH: 200, "s1": 205}),
        row(B, 0, members={UNKNOWN_BATCH: 590, "s1": 610}),
    ]
    got = srm_by_batch(rows, (A, B), unit="members", split={A: 1, B: 3})
    assert got.expected == pytest.approx((401.25, 1203.75))
    assert (got.excluded, got.batches, got.mismatch) == (0, ("s1", UNKNOWN_BATCH), False)


def test_unbatched_units_follow_the_warmup_split_only_before_the_first_batch() -> None:
    rows = [
        row(A, 0, impressions={UNKNOWN_BATCH: 500}),
        row(B, 0, impressions={UNKNOWN_BATCH: 500}),
        # After the first batch: unbatched impressions come from older logs, weights unknown.
        row(A, 3, impressions={UNKNOWN_BATCH: 70, "b1": 800}),
        row(B, 3, impressions={UNKNOWN_BATCH: 5, "b1": 200}),
    ]
    got = srm_by_batch(
        rows,
        (A, B),
        unit="impressions",
        weights_by_batch={"b1": {A: 0.8, B: 0.2}},
        unbatched_weights={A: 0.5, B: 0.5},
        unbatched_before=T0 + timedelta(hours=2),
    )
    assert got.observed == (1300, 700)
    assert got.expected == pytest.approx((1300.0, 700.0))
    assert got.excluded == 75
    # Without warm-up weights every unbatched impression is left out.
    bare = srm_by_batch(rows, (A, B), unit="impressions", weights_by_batch={"b1": {A: 0.8, B: 0.2}})
    assert (bare.observed, bare.excluded) == ((800, 200), 1075)


def test_a_batch_without_weights_is_left_out_and_counted() -> None:
    rows = [row(A, 0, members={"b1": 50, "b9": 40}), row(B, 0, members={"b1": 50})]
    got = srm_by_batch(rows, (A, B), unit="members", weights_by_batch={"b1": {A: 0.5, B: 0.5}})
    assert (got.observed, got.excluded, got.batches) == ((50, 50), 40, ("b1",))


def test_a_model_outside_the_arms_is_a_mismatch() -> None:
    rows = [
        row(A, 0, members={"b1": 500}),
        row(B, 0, members={"b1": 500}),
        row("STRANGER", 0, members={"b1": 1}),
    ]
    got = srm_by_batch(rows, (A, B), unit="members", weights_by_batch={"b1": {A: 0.5, B: 0.5}})
    assert got.model_codes == (A, B, "STRANGER")
    assert got.mismatch and math.isinf(got.chi2)
    assert got.to_dict()["chi2"] is None and got.to_dict()["unit"] == "members"


def test_a_deliberate_member_imbalance_fires() -> None:
    # GIVEN 20,000 members of a 5:5 test WHEN arm B loses 10 % of its members THEN flagged
    rows = [row(A, 0, members={"s": 10_000}), row(B, 0, members={"s": 9_000})]
    assert srm_by_batch(rows, (A, B), unit="members", split={A: 1, B: 1}).mismatch


def test_rows_without_the_field_and_no_rows_are_no_evidence() -> None:
    old = [{"model_code": A, "hour": T0, "impressions": 100}]
    got = srm_by_batch(old, (A, B), unit="members", split={A: 1, B: 1})
    assert (got.total, got.p_value, got.mismatch, got.rows_without_counts) == (0, 1.0, False, 1)
    empty = srm_by_batch([], (A, B), unit="impressions", weights_by_batch={})
    assert (empty.total, empty.p_value) == (0, 1.0)


def test_objects_with_the_fields_are_read_like_dicts() -> None:
    class Row:
        def __init__(self, model: str, members: dict) -> None:
            self.model_code, self.hour, self.first_members_by_batch = model, T0, members

    got = srm_by_batch(
        [Row(A, {"s": 480}), Row(B, {"s": 520})], (A, B), unit="members", split={A: 1, B: 1}
    )
    assert got.observed == (480, 520)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"unit": "visits", "split": {A: 1}}, "unit"),
        ({"unit": "members", "split": {A: 1}, "threshold": 2.0}, "threshold"),
        ({"unit": "members", "split": {A: 0, B: 0}}, "split"),
    ],
)
def test_invalid_arguments_are_refused(kwargs: dict, field: str) -> None:
    with pytest.raises(ValidationError) as err:
        srm_by_batch([row(A, 0, members={"s": 1})], (A, B), **kwargs)
    assert err.value.field == field


@pytest.mark.parametrize(
    ("rows", "field"),
    [
        ([row(A, 0, members={"s": -1})], "rows[0].first_members_by_batch[s]"),
        ([row(A, 0, members={"s": 1.5})], "rows[0].first_members_by_batch[s]"),
        ([row(A, 0, members=[3])], "rows[0].first_members_by_batch"),
    ],
)
def test_bad_counts_are_refused(rows: list, field: str) -> None:
    with pytest.raises(ValidationError) as err:
        srm_by_batch(rows, (A, B), unit="members", split={A: 1, B: 1})
    assert err.value.field == field
