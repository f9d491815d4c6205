"""Expected vs served model counts: static splits, batch-by-batch weights, strangers."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import pytest

from services.experiments import ExperimentType
from services.ops.split_check import check_split, weight_schedule, weights_at
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
