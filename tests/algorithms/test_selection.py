"""select_model: each branch, its reason and batch id, and the two bTS modes agreeing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from scipy import stats

from services.algorithms.base import Reason
from services.algorithms.floor import apply_floor
from services.algorithms.warmup import in_warmup
from services.experiments import Arm, Experiment, ExperimentType, ServingMode, Status
from services.parameters import ParameterSnapshot, empty_snapshot
from services.selection import select_model
from tests.algorithms.conftest import (
    LATER,
    START,
    binomial_bound,
    make_experiment,
    make_snapshot,
    reference_probability_best,
)

ALPHAS = (10, 12, 8)
BETAS = (990, 988, 992)
STATIC = ExperimentType.STATIC


def allocation(
    experiment: Experiment, snapshot: ParameterSnapshot, n: int, *, seed: int = 0
) -> np.ndarray:
    """Arm counts over ``n`` distinct members, one request each."""
    rng = np.random.default_rng(seed)
    picks = [
        select_model(experiment, snapshot, f"member-{i}", LATER, rng).arm_index for i in range(n)
    ]
    return np.bincount(picks, minlength=len(experiment.arms))


# --- golden values --------------------------------------------------------------------------


def test_draw_mode_golden() -> None:
    experiment = make_experiment((1, 1, 1))
    snapshot = make_snapshot(experiment, ALPHAS, BETAS)
    rng = np.random.default_rng(42)
    picks = [select_model(experiment, snapshot, "m", LATER, rng).arm_index for _ in range(20)]
    assert picks == [0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 2, 1, 2, 0, 1, 0, 0, 1, 1]


def test_sticky_mode_golden() -> None:
    experiment = make_experiment((1, 1, 1), serving_mode=ServingMode.STICKY)
    snapshot = make_snapshot(experiment, ALPHAS, BETAS)
    rng = np.random.default_rng(42)
    picks = [
        select_model(experiment, snapshot, f"member-{i}", LATER, rng).arm_index for i in range(20)
    ]
    assert picks == [1, 1, 1, 1, 0, 1, 0, 1, 1, 1, 1, 1, 0, 2, 1, 1, 1, 1, 1, 1]


def test_static_golden() -> None:
    experiment = make_experiment((2, 3, 5), experiment_type=STATIC)
    snapshot = make_snapshot(experiment, ALPHAS, BETAS)
    rng = np.random.default_rng(42)
    got = [select_model(experiment, snapshot, f"member-{i}", LATER, rng) for i in range(20)]
    assert [s.arm_index for s in got] == [
        2,
        2,
        1,
        1,
        1,
        1,
        1,
        2,
        1,
        0,
        1,
        2,
        2,
        1,
        1,
        1,
        1,
        2,
        2,
        0,
    ]
    assert got[0].model_code == "EXP-01-M2"
    assert {s.reason for s in got} == {"static"}


# --- reasons and batch ids ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "now", "reason"),
    [
        ({}, START, "warmup"),
        ({}, LATER, "bts"),
        ({"serving_mode": ServingMode.STICKY}, START, "warmup"),
        ({"serving_mode": ServingMode.STICKY}, LATER, "bts"),
        ({"experiment_type": STATIC}, LATER, "static"),
        ({"status": Status.PAUSED}, LATER, "paused"),
        ({"experiment_type": STATIC, "status": Status.PAUSED}, LATER, "paused"),
    ],
)
def test_reason_and_batch_id(changes: dict[str, Any], now: datetime, reason: str) -> None:
    experiment = make_experiment((1, 1, 1), **changes)
    snapshot = make_snapshot(experiment, ALPHAS, BETAS, batch_id="B-042")
    got = select_model(experiment, snapshot, "member-1", now, np.random.default_rng(0))
    assert got.reason == reason
    assert got.batch_id == "B-042"
    assert got.model_code == experiment.model_codes[got.arm_index]


def test_paused_serves_the_control() -> None:
    # The control is the third arm here, so "control" cannot be confused with "first arm".
    arms = tuple(Arm(f"EXP-01-M{i}", control=(i == 2)) for i in range(3))
    experiment = make_experiment((1, 1, 1), status=Status.PAUSED).with_changes(arms=arms)
    snapshot = make_snapshot(experiment, ALPHAS, BETAS)
    rng = np.random.default_rng(0)
    for i in range(50):
        got = select_model(experiment, snapshot, f"member-{i}", LATER, rng)
        assert (got.model_code, got.arm_index, got.reason) == ("EXP-01-M2", 2, Reason.PAUSED)


def test_before_the_first_batch_the_batch_id_is_none() -> None:
    experiment = make_experiment((1, 1), serving_mode=ServingMode.STICKY)
    snapshot = empty_snapshot(experiment.experiment_id, experiment.model_codes)
    got = select_model(experiment, snapshot, "member-1", START, np.random.default_rng(0))
    assert (got.reason, got.batch_id) == ("warmup", None)


# --- warm-up boundaries ---------------------------------------------------------------------


def test_warmup_before_the_hours_have_passed() -> None:
    # GIVEN every arm has plenty of impressions WHEN one second is left THEN still warm-up
    experiment = make_experiment((1, 1))
    snapshot = make_snapshot(experiment, (100, 100), (5000, 5000))
    now = START + timedelta(hours=6) - timedelta(seconds=1)
    assert in_warmup(experiment, snapshot, now)
    assert select_model(experiment, snapshot, "m", now, np.random.default_rng(0)).reason == "warmup"


def test_warmup_after_the_hours_with_one_arm_short() -> None:
    # GIVEN the hours have passed but one arm has 999 of the 1000 impressions THEN warm-up
    experiment = make_experiment((1, 1))
    snapshot = make_snapshot(experiment, (100, 9), (5000, 990))
    now = START + timedelta(hours=6)
    assert in_warmup(experiment, snapshot, now)
    assert select_model(experiment, snapshot, "m", now, np.random.default_rng(0)).reason == "warmup"


def test_bts_once_hours_and_impressions_are_both_reached() -> None:
    # GIVEN exactly 6 hours and exactly 1000 impressions on the smallest arm THEN bts
    experiment = make_experiment((1, 1))
    snapshot = make_snapshot(experiment, (100, 10), (5000, 990))
    now = START + timedelta(hours=6)
    assert not in_warmup(experiment, snapshot, now)
    assert select_model(experiment, snapshot, "m", now, np.random.default_rng(0)).reason == "bts"


def test_an_arm_missing_from_the_snapshot_keeps_the_warmup() -> None:
    experiment = make_experiment((1, 1))
    snapshot = make_snapshot(experiment, (100, 100), (5000, 5000))
    partial = snapshot.__class__(snapshot.experiment_id, "B-001", snapshot.arms[:1], warmup=False)
    assert in_warmup(experiment, partial, LATER)


def test_warmup_without_a_start_time_and_with_an_aware_clock() -> None:
    experiment = make_experiment((1, 1), started_at=None)
    snapshot = make_snapshot(experiment, (100, 100), (5000, 5000))
    assert in_warmup(experiment, snapshot, LATER)
    started = make_experiment((1, 1))
    aware = (START + timedelta(hours=6)).replace(tzinfo=UTC)
    assert not in_warmup(started, snapshot, aware)
    got = select_model(started, snapshot, "m", aware, np.random.default_rng(0))
    assert got.reason == "bts"


@pytest.mark.parametrize("mode", [ServingMode.DRAW, ServingMode.STICKY])
def test_warmup_serves_the_configured_split(mode: ServingMode) -> None:
    # GIVEN a 1:3 split in warm-up WHEN 20,000 members arrive THEN 25% / 75% within 5 sigma
    n = 20_000
    experiment = make_experiment((1, 3), serving_mode=mode)
    snapshot = make_snapshot(experiment, (0, 0), (0, 0), warmup=True)
    rng = np.random.default_rng(9)
    picks = [
        select_model(experiment, snapshot, f"member-{i}", START, rng).arm_index for i in range(n)
    ]
    share = np.bincount(picks, minlength=2) / n
    expected = np.array([0.25, 0.75])
    assert np.all(np.abs(share - expected) <= binomial_bound(expected, n))


# --- the two bTS modes agree ----------------------------------------------------------------


@pytest.mark.parametrize("floor", [0.0, 0.1])
def test_sticky_allocation_matches_draw_allocation(floor: float) -> None:
    """Acceptance: over many members, sticky mode serves the same shares as draw mode.

    A chi-square test of homogeneity on the 2 x K table (draw, sticky) x arms must not reject
    at the 0.1% level, and each mode's shares must sit within 5 binomial sigmas of
    f + (1 - K f) P(best) from an independent quadrature.
    """
    n = 30_000
    draw = make_experiment((1, 1, 1), exposure_floor=floor)
    sticky = draw.with_changes(serving_mode=ServingMode.STICKY)
    snapshot = make_snapshot(draw, ALPHAS, BETAS)
    draw_counts = allocation(draw, snapshot, n, seed=1)
    sticky_counts = allocation(sticky, snapshot, n, seed=1)
    assert stats.chi2_contingency(np.vstack([draw_counts, sticky_counts])).pvalue > 1e-3
    expected = apply_floor(reference_probability_best(ALPHAS, BETAS), floor)
    for counts in (draw_counts, sticky_counts):
        assert np.all(np.abs(counts / n - expected) <= binomial_bound(expected, n))


def test_sticky_floor_gives_every_arm_at_least_f() -> None:
    n, floor = 20_000, 0.05
    experiment = make_experiment(
        (1, 1, 1, 1), serving_mode=ServingMode.STICKY, exposure_floor=floor
    )
    snapshot = make_snapshot(experiment, (500, 10, 10, 10), (4500, 4990, 4990, 4990))
    share = allocation(experiment, snapshot, n) / n
    assert np.all(share >= floor - binomial_bound(np.full(4, floor), n))


def test_sticky_uses_stored_weights_outside_the_jobs_warmup() -> None:
    # The counts favour arm 0, but the job stored (0, 1): stored weights win once warm.
    experiment = make_experiment((1, 1), serving_mode=ServingMode.STICKY)
    stored = make_snapshot(experiment, (500, 10), (4500, 4990), weights=(0.0, 1.0))
    assert allocation(experiment, stored, 500).tolist() == [0, 500]
    # While the job still calls it warm-up, its weights may be the warm-up split: recompute.
    job_warmup = make_snapshot(experiment, (500, 10), (4500, 4990), weights=(0.0, 1.0), warmup=True)
    assert allocation(experiment, job_warmup, 500).tolist() == [500, 0]


# --- stickiness -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes", [{"experiment_type": STATIC}, {"serving_mode": ServingMode.STICKY}]
)
def test_same_member_same_model_within_a_batch(changes: dict[str, Any]) -> None:
    experiment = make_experiment((1, 1, 1), **changes)
    snapshot = make_snapshot(experiment, ALPHAS, BETAS)
    for i in range(200):
        models = {
            select_model(
                experiment, snapshot, f"member-{i}", LATER, np.random.default_rng(seed)
            ).model_code
            for seed in range(5)
        }
        assert len(models) == 1


def test_sticky_assignment_changes_across_batches() -> None:
    # GIVEN equal stored weights in two batches THEN about half the members move (not none,
    # not all), while the static split moves nobody.
    n = 2000
    sticky = make_experiment((1, 1), serving_mode=ServingMode.STICKY)
    first = make_snapshot(sticky, ALPHAS[:2], BETAS[:2], batch_id="B-001", weights=(0.5, 0.5))
    second = make_snapshot(sticky, ALPHAS[:2], BETAS[:2], batch_id="B-002", weights=(0.5, 0.5))
    rng = np.random.default_rng(0)
    moved = sum(
        select_model(sticky, first, f"member-{i}", LATER, rng).arm_index
        != select_model(sticky, second, f"member-{i}", LATER, rng).arm_index
        for i in range(n)
    )
    assert 0.4 * n < moved < 0.6 * n
    static = make_experiment((1, 1), experiment_type=STATIC)
    first, second = (
        make_snapshot(static, (0, 0), (0, 0)),
        make_snapshot(static, (0, 0), (0, 0), batch_id="B-002"),
    )
    assert all(
        select_model(static, first, f"member-{i}", LATER, rng).arm_index
        == select_model(static, second, f"member-{i}", LATER, rng).arm_index
        for i in range(n)
    )


# --- static split ---------------------------------------------------------------------------


@pytest.mark.parametrize("weights", [(5, 5), (2, 3, 5)])
def test_static_split_passes_the_srm_check(weights: tuple[int, ...]) -> None:
    # GIVEN 10,000 members THEN the observed split does not show a sample ratio mismatch:
    # chi-square goodness of fit p-value above 0.001 (the usual SRM alarm level).
    n = 10_000
    experiment = make_experiment(weights, experiment_type=STATIC)
    counts = allocation(
        experiment, make_snapshot(experiment, [0] * len(weights), [0] * len(weights)), n
    )
    expected = np.array(experiment.normalised_weights) * n
    assert stats.chisquare(counts, expected).pvalue > 1e-3


def test_static_salt_reshuffles_members() -> None:
    plain = make_experiment((1, 1), experiment_type=STATIC)
    salted = plain.with_changes(salt="reshuffle-2026")
    snapshot = make_snapshot(plain, (0, 0), (0, 0))
    rng = np.random.default_rng(0)
    differ = sum(
        select_model(plain, snapshot, f"member-{i}", LATER, rng).arm_index
        != select_model(salted, snapshot, f"member-{i}", LATER, rng).arm_index
        for i in range(1000)
    )
    assert 350 < differ < 650


# --- the plan cache never serves a stale configuration --------------------------------------


def test_changed_configuration_in_the_same_batch_is_not_served_stale() -> None:
    snapshot_owner = make_experiment((1, 1))
    snapshot = make_snapshot(snapshot_owner, (500, 10), (4500, 4990))
    rng = np.random.default_rng(0)
    dynamic = make_experiment((1, 1))
    assert select_model(dynamic, snapshot, "m", LATER, rng).reason == "bts"
    # Same id, same batch, different configuration: a fresh plan, not the cached one.
    static = make_experiment((0.01, 100), experiment_type=STATIC)
    picks = [
        select_model(static, snapshot, f"member-{i}", LATER, rng).arm_index for i in range(200)
    ]
    assert sum(picks) > 190
    # An equal but freshly built experiment (as loaded from the store) reuses the plan.
    assert select_model(make_experiment((1, 1)), snapshot, "m", LATER, rng).reason == "bts"
