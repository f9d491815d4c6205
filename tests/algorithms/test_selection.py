"""select_model: each branch, its reason and batch id, and the two bTS modes agreeing."""

from __future__ import annotations

from dataclasses import replace
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
    ("changes", "warmup", "reason"),
    [
        ({}, True, "warmup"),
        ({}, False, "bts"),
        ({"serving_mode": ServingMode.STICKY}, True, "warmup"),
        ({"serving_mode": ServingMode.STICKY}, False, "bts"),
        ({"experiment_type": STATIC}, False, "static"),
        ({"status": Status.PAUSED}, False, "paused"),
        ({"experiment_type": STATIC, "status": Status.PAUSED}, False, "paused"),
    ],
)
def test_reason_and_batch_id(changes: dict[str, Any], warmup: bool, reason: str) -> None:
    experiment = make_experiment((1, 1, 1), **changes)
    snapshot = make_snapshot(experiment, ALPHAS, BETAS, batch_id="B-042", warmup=warmup)
    got = select_model(experiment, snapshot, "member-1", LATER, np.random.default_rng(0))
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
# The job decides the warm-up at each batch's end with ``in_warmup``; the selector follows the
# batch's flag. These tests check the job's rule and that the selector serves what it decided.


def job_snapshot(
    experiment: Experiment,
    alphas: tuple[int, ...],
    betas: tuple[int, ...],
    batch_end: datetime,
) -> ParameterSnapshot:
    """The snapshot the parameter job writes for the batch ending at ``batch_end``."""
    counts = make_snapshot(experiment, alphas, betas, batch_id=f"{batch_end:%Y%m%dT%H%M}")
    return replace(counts, warmup=in_warmup(experiment, counts, batch_end))


def test_warmup_before_the_hours_have_passed() -> None:
    # GIVEN every arm has plenty of impressions WHEN one second is left THEN still warm-up
    experiment = make_experiment((1, 1))
    now = START + timedelta(hours=6) - timedelta(seconds=1)
    snapshot = job_snapshot(experiment, (100, 100), (5000, 5000), now)
    assert snapshot.warmup
    assert select_model(experiment, snapshot, "m", now, np.random.default_rng(0)).reason == "warmup"


def test_warmup_after_the_hours_with_one_arm_short() -> None:
    # GIVEN the hours have passed but one arm has 999 of the 1000 impressions THEN warm-up
    experiment = make_experiment((1, 1))
    now = START + timedelta(hours=6)
    snapshot = job_snapshot(experiment, (100, 9), (5000, 990), now)
    assert snapshot.warmup
    assert select_model(experiment, snapshot, "m", now, np.random.default_rng(0)).reason == "warmup"


def test_bts_once_hours_and_impressions_are_both_reached() -> None:
    # GIVEN exactly 6 hours and exactly 1000 impressions on the smallest arm THEN bts
    experiment = make_experiment((1, 1))
    now = START + timedelta(hours=6)
    snapshot = job_snapshot(experiment, (100, 10), (5000, 990), now)
    assert not snapshot.warmup
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


@pytest.mark.parametrize("mode", [ServingMode.DRAW, ServingMode.STICKY])
def test_the_selector_clock_never_ends_the_warmup_inside_a_batch(mode: ServingMode) -> None:
    """A test started at hh:30 serves its warm-up split until the first batch after warm-up.

    Started 10:30 with 6 h of warm-up: the time condition is met at 16:30, but the batch in
    force from 16:00 was computed at 16:00 and says warm-up, so the whole hour to 17:00 is
    served with the warm-up split; the batch ending 17:00 is the first warm one.
    """
    started = datetime(2026, 11, 28, 10, 30)
    experiment = make_experiment((1, 3), serving_mode=mode, started_at=started)
    alphas, betas = (300, 100), (9700, 9900)
    batch_16 = job_snapshot(experiment, alphas, betas, datetime(2026, 11, 28, 16))
    batch_17 = job_snapshot(experiment, alphas, betas, datetime(2026, 11, 28, 17))
    assert batch_16.warmup and not batch_17.warmup
    rng = np.random.default_rng(3)
    for minute in range(0, 60, 5):
        now = datetime(2026, 11, 28, 16, minute)
        got = select_model(experiment, batch_16, f"member-{minute}", now, rng)
        assert (got.reason, got.batch_id) == ("warmup", "20261128T1600")
        assert got.propensity == pytest.approx((0.25, 0.75)[got.arm_index])
    got = select_model(experiment, batch_17, "member-1", datetime(2026, 11, 28, 17, 1), rng)
    assert (got.reason, got.batch_id) == ("bts", "20261128T1700")


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
    # Without stored weights the batch's P(best) is integrated: here arm 0 is surely best.
    computed = make_snapshot(experiment, (500, 10), (4500, 4990))
    assert allocation(experiment, computed, 500).tolist() == [500, 0]
    # While the job still calls it warm-up, the warm-up split is served whatever is stored.
    job_warmup = make_snapshot(experiment, (500, 10), (4500, 4990), weights=(0.0, 1.0), warmup=True)
    counts = allocation(experiment, job_warmup, 2000)
    assert np.all(np.abs(counts / 2000 - 0.5) <= binomial_bound(np.full(2, 0.5), 2000))


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


# --- propensities ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "warmup", "shares"),
    [
        ({"experiment_type": STATIC}, False, (0.2, 0.3, 0.5)),
        ({}, True, (0.2, 0.3, 0.5)),
        ({"serving_mode": ServingMode.STICKY}, True, (0.2, 0.3, 0.5)),
        ({"serving_mode": ServingMode.STICKY}, False, (0.1, 0.6, 0.3)),
        ({"status": Status.PAUSED}, False, None),
    ],
)
def test_each_selection_states_the_share_of_its_arm(
    changes: dict[str, Any], warmup: bool, shares: tuple[float, ...] | None
) -> None:
    experiment = make_experiment((2, 3, 5), **changes)
    snapshot = make_snapshot(experiment, ALPHAS, BETAS, weights=(0.1, 0.6, 0.3), warmup=warmup)
    rng = np.random.default_rng(5)
    for i in range(300):
        got = select_model(experiment, snapshot, f"member-{i}", LATER, rng)
        expected = 1.0 if shares is None else shares[got.arm_index]
        assert got.propensity == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("floor", [0.0, 0.1])
def test_draw_mode_serves_each_arm_with_the_stored_weight(floor: float) -> None:
    """Draw mode's real serving probability is the weight the job stores: P(best) with floor.

    GIVEN the job's weights (independent quadrature of P(best), additive floor) stored in the
    batch WHEN 40,000 requests are drawn THEN every logged propensity equals its arm's stored
    weight to 1e-9, and the served counts fit those weights (chi-square p > 0.001, and each
    share within 5 binomial sigmas).
    """
    n = 40_000
    experiment = make_experiment((1, 1, 1), exposure_floor=floor)
    stored = apply_floor(reference_probability_best(ALPHAS, BETAS), floor)
    snapshot = make_snapshot(experiment, ALPHAS, BETAS, weights=tuple(stored))
    rng = np.random.default_rng(11)
    picks = [select_model(experiment, snapshot, "m", LATER, rng) for _ in range(n)]
    for got in picks:
        assert got.propensity == pytest.approx(stored[got.arm_index], abs=1e-9)
    counts = np.bincount([p.arm_index for p in picks], minlength=3)
    assert stats.chisquare(counts, stored * n).pvalue > 1e-3
    assert np.all(np.abs(counts / n - stored) <= binomial_bound(stored, n))


def test_without_stored_weights_the_draw_propensity_is_integrated_from_the_counts() -> None:
    experiment = make_experiment((1, 1, 1), exposure_floor=0.05)
    snapshot = make_snapshot(experiment, ALPHAS, BETAS)
    truth = apply_floor(reference_probability_best(ALPHAS, BETAS), 0.05)
    rng = np.random.default_rng(0)
    for _ in range(50):
        got = select_model(experiment, snapshot, "m", LATER, rng)
        assert got.propensity == pytest.approx(truth[got.arm_index], abs=1e-9)


def test_an_arm_with_no_share_leaves_the_other_with_propensity_one() -> None:
    # A sticky batch that gives arm 0 nothing: members land on arm 1 with propensity 1.
    experiment = make_experiment((1, 1), serving_mode=ServingMode.STICKY)
    snapshot = make_snapshot(experiment, (5, 5), (95, 95), weights=(0.0, 1.0))
    got = select_model(experiment, snapshot, "m", LATER, np.random.default_rng(0))
    assert (got.arm_index, got.propensity) == (1, 1.0)
