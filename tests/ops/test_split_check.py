"""Expected vs served model counts: static splits, batch-by-batch weights, strangers."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import pytest

from services.experiments import ExperimentType, ServingMode
from services.ops.figures import ModelCount
from services.ops.split_check import check_selections, check_split, weight_schedule, weights_at
from services.parameters import ArmParameters, BatchArm, ParameterBatch, ParameterSnapshot
from tests.foundation.factories import arms, experiment

T0 = datetime(2026, 11, 28, 9, 0)
A, B = "A-01", "B-01"


def _static(weights=(1.0, 1.0)):
    return experiment(type=ExperimentType.STATIC, arms=arms(A, B, weights=weights))


def _batch(created: datetime, wa: float, wb: float) -> ParameterBatch:
    return ParameterBatch(
        "EXP-01",
        f"b{created:%H}",
        created - timedelta(hours=24),
        created,
        (BatchArm(A, 10, 90, wa, wa), BatchArm(B, 5, 95, wb, wb)),
        warmup=False,
        created_at=created,
    )


def test_static_2_to_3_split_matches_and_is_not_flagged():
    exp = _static((2.0, 3.0))
    check = check_split(exp, {T0: {A: 410, B: 590}}, weight_schedule(exp))
    assert check.expected == pytest.approx((400.0, 600.0))
    assert check.observed == (410, 590)
    assert not check.mismatch


def test_static_split_far_off_is_flagged():
    exp = _static()
    check = check_split(exp, {T0: {A: 700, B: 300}}, weight_schedule(exp))
    assert check.mismatch
    assert check.srm.p_value < 1e-6


def test_each_hour_judged_by_the_batch_in_force():
    """Warm-up 1:1 until the 10:05 batch moves to 0.8/0.2; hour 10 is judged by the new one."""
    exp = experiment(arms=arms(A, B))
    schedule = weight_schedule(exp, [_batch(T0 + timedelta(hours=1, minutes=5), 0.8, 0.2)])
    assert weights_at(schedule, T0 + timedelta(minutes=30)) == (0.5, 0.5)
    check = check_split(
        exp, {T0: {A: 50, B: 50}, T0 + timedelta(hours=1): {A: 80, B: 20}}, schedule
    )
    assert check.expected == pytest.approx((130.0, 70.0))
    assert [h.expected for h in check.hours] == [{A: 50.0, B: 50.0}, {A: 80.0, B: 20.0}]
    assert not check.mismatch
    # Judged against the warm-up split alone, the same counts would be a mismatch.
    assert check_split(exp, {T0: {A: 130, B: 70}}, weight_schedule(exp)).mismatch


def test_current_weights_stand_in_when_there_is_no_history():
    exp = experiment(arms=arms(A, B))
    current = ParameterSnapshot(
        "EXP-01", "b1", (ArmParameters(A, 1, 1, 0.9), ArmParameters(B, 1, 1, 0.1)), warmup=False
    )
    check = check_split(exp, {T0: {A: 88, B: 12}}, weight_schedule(exp, [], current))
    assert check.expected == pytest.approx((90.0, 10.0))
    assert not check.mismatch


def test_a_model_that_is_not_an_arm_is_flagged():
    exp = _static()
    check = check_split(exp, {T0: {A: 50, B: 49, "STRANGER": 1}}, weight_schedule(exp))
    assert check.model_codes == (A, B, "STRANGER")
    assert check.expected[2] == 0.0
    assert check.mismatch and math.isinf(check.srm.chi2)


def test_no_traffic_is_no_evidence_of_a_mismatch():
    exp = _static()
    check = check_split(exp, {}, weight_schedule(exp))
    assert check.total == 0 and not check.mismatch and check.srm.p_value == 1.0


# --- the selector's log lines, each against the batch it names ---------------------------------


def _dynamic(mode: ServingMode = ServingMode.DRAW):
    return experiment(arms=arms(A, B), serving_mode=mode)


def test_each_line_is_judged_by_the_batch_it_names():
    # GIVEN an hour whose first 10 minutes were served by b08 (50/50) and the rest by b09
    # (80/20): 200 + 1000 selections
    exp = _dynamic()
    history = [
        _batch(T0 - timedelta(minutes=50), 0.5, 0.5),
        _batch(T0 + timedelta(minutes=10), 0.8, 0.2),
    ]
    b_old, b_new = history[0].batch_id, history[1].batch_id
    counts = [
        ModelCount(T0, "EXP-01", A, "bts", 100, b_old),
        ModelCount(T0, "EXP-01", B, "bts", 100, b_old),
        ModelCount(T0, "EXP-01", A, "bts", 800, b_new),
        ModelCount(T0, "EXP-01", B, "bts", 200, b_new),
    ]
    check = check_selections(exp, counts, history)
    assert check.srm.unit == "impressions"
    assert check.srm.expected == pytest.approx((900.0, 300.0))
    assert not check.mismatch
    assert check.selections == {A: 900, B: 300}
    # Judged by one schedule for the whole hour (weights at the bin's middle), it is flagged.
    served = {T0: {A: 900, B: 300}}
    assert check_split(exp, served, weight_schedule(exp, history)).mismatch


def test_a_hashed_test_counts_members_when_the_lines_say_who():
    # 5 heavy members of A came back 40 times each: selections are lopsided, members are not.
    exp = _static()
    counts = [
        ModelCount(T0, "EXP-01", A, "static", 300, None, 100),
        ModelCount(T0, "EXP-01", B, "static", 105, None, 105),
        ModelCount(T0, "EXP-01", A, "paused", 50, None, 50),  # served on purpose: not counted
    ]
    check = check_selections(exp, counts)
    assert (check.srm.unit, check.srm.observed, check.mismatch) == ("members", (100, 105), False)
    # Without member hashes (Logs Insights counts), the selections are all there is.
    blind = [
        ModelCount(c.bin_start, c.experiment_id, c.model_code, c.reason, c.count) for c in counts
    ]
    fallback = check_selections(exp, blind)
    assert (fallback.srm.unit, fallback.srm.observed, fallback.mismatch) == (
        "impressions",
        (300, 105),
        True,
    )


def test_the_current_parameters_stand_for_a_batch_not_yet_in_the_history():
    exp = _dynamic(ServingMode.STICKY)
    current = ParameterSnapshot(
        "EXP-01", "b-now", (ArmParameters(A, 1, 9, 0.9), ArmParameters(B, 1, 9, 0.1)), warmup=False
    )
    counts = [
        ModelCount(T0, "EXP-01", A, "bts", 95, "b-now", 90),
        ModelCount(T0, "EXP-01", B, "bts", 11, "b-now", 10),
    ]
    check = check_selections(exp, counts, current=current)
    assert check.srm.unit == "members"
    assert check.srm.expected == pytest.approx((90.0, 10.0))
    assert check.srm.batches == ("b-now",)
    assert [h.observed for h in check.hours] == [{A: 90, B: 10}]
