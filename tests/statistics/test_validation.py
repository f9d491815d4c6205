"""Every invalid input is refused with a ValidationError naming its field."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

from services.exceptions import ValidationError
from services.statistics import (
    ArmCounts,
    BetaPosterior,
    beta_posterior,
    common_grid,
    expected_counts_dynamic,
    expected_loss,
    lift_over_control,
    probability_best,
    probability_best_from_counts,
    probability_best_mc,
    srm_test,
)

POSTERIOR = BetaPosterior(2.0, 3.0)

CASES: list[tuple[str, Callable[[], object], str]] = [
    # ArmCounts
    ("negative impressions", lambda: ArmCounts(-1, 0), "impressions"),
    ("negative clicks", lambda: ArmCounts(10, -1), "clicks"),
    ("negative orders", lambda: ArmCounts(10, 1, -2), "orders"),
    ("clicks above impressions", lambda: ArmCounts(10, 11), "clicks"),
    ("float impressions", lambda: ArmCounts(10.5, 1), "impressions"),
    ("boolean clicks", lambda: ArmCounts(10, True), "clicks"),
    ("string orders", lambda: ArmCounts(10, 1, "3"), "orders"),
    # BetaPosterior
    ("zero a", lambda: BetaPosterior(0.0, 1.0), "a"),
    ("negative b", lambda: BetaPosterior(1.0, -1.0), "b"),
    ("infinite a", lambda: BetaPosterior(math.inf, 1.0), "a"),
    ("nan b", lambda: BetaPosterior(1.0, math.nan), "b"),
    ("string a", lambda: BetaPosterior("1", 1.0), "a"),
    ("counts not ArmCounts", lambda: BetaPosterior.from_counts((10, 1)), "counts"),
    ("zero prior", lambda: BetaPosterior.from_counts(ArmCounts(10, 1), prior_a=0.0), "prior_a"),
    ("nan prior", lambda: BetaPosterior.from_counts(ArmCounts(10, 1), prior_b=math.nan), "prior_b"),
    ("posterior clicks above impressions", lambda: beta_posterior(5, 4), "clicks"),
    ("level 1", lambda: POSTERIOR.credible_interval(1.0), "level"),
    ("level 0", lambda: POSTERIOR.credible_interval(0.0), "level"),
    ("grid of one point", lambda: POSTERIOR.grid(n=1), "n"),
    ("grid of float points", lambda: POSTERIOR.grid(n=10.0), "n"),
    ("grid coverage 1", lambda: POSTERIOR.grid(coverage=1.0), "coverage"),
    ("common grid of nothing", lambda: common_grid([]), "posteriors"),
    ("common grid of a tuple", lambda: common_grid([POSTERIOR, (1, 2)]), "posteriors[1]"),
    # probability_best and friends
    ("no arms", lambda: probability_best([], []), "a"),
    ("mismatched lengths", lambda: probability_best([1.0, 2.0], [1.0]), "b"),
    ("zero shape", lambda: probability_best([1.0, 0.0], [1.0, 1.0]), "a[1]"),
    ("negative shape", lambda: expected_loss([1.0, 2.0], [1.0, -3.0]), "b[1]"),
    ("infinite shape", lambda: probability_best([math.inf], [1.0]), "a[0]"),
    ("nan shape", lambda: expected_loss([1.0], [math.nan]), "b[0]"),
    ("arm beyond 1e10", lambda: probability_best([1.0, 6e9], [1.0, 5e9]), "b[1]"),
    ("loss arm beyond 1e10", lambda: expected_loss([2e10], [1.0]), "b[0]"),
    ("two-dimensional shapes", lambda: probability_best([[1.0]], [[1.0]]), "a"),
    ("non-numeric shapes", lambda: probability_best(["x"], [1.0]), "a"),
    ("no counts", lambda: probability_best_from_counts([]), "counts"),
    ("counts not ArmCounts", lambda: probability_best_from_counts([(1, 1)]), "counts[0]"),
    ("zero draws", lambda: probability_best_mc([1.0], [1.0], draws=0), "draws"),
    ("float draws", lambda: probability_best_mc([1.0], [1.0], draws=1e5), "draws"),
    ("negative seed", lambda: probability_best_mc([1.0], [1.0], seed=-1), "seed"),
    (
        "rng and seed",
        lambda: probability_best_mc([1.0], [1.0], rng=np.random.default_rng(1), seed=1),
        "seed",
    ),
    ("legacy random state", lambda: probability_best_mc([1.0], [1.0], rng=np.random), "rng"),
    ("mc mismatched lengths", lambda: probability_best_mc([1.0], [1.0, 2.0]), "b"),
    # srm_test
    ("no observed arms", lambda: srm_test([], []), "observed"),
    ("negative observed", lambda: srm_test([10, -1], [0.5, 0.5]), "observed[1]"),
    ("float observed", lambda: srm_test([10.5, 1], [0.5, 0.5]), "observed[0]"),
    ("srm mismatched lengths", lambda: srm_test([10, 10], [1.0]), "expected"),
    ("negative expected", lambda: srm_test([10, 10], [1.5, -0.5]), "expected[1]"),
    ("nan expected", lambda: srm_test([10, 10], [math.nan, 0.5]), "expected[0]"),
    ("all-zero expected", lambda: srm_test([10, 10], [0.0, 0.0]), "expected"),
    ("expected counts off the total", lambda: srm_test([10, 10], [10.0, 15.0]), "expected"),
    ("threshold 0", lambda: srm_test([10, 10], [0.5, 0.5], threshold=0.0), "threshold"),
    ("threshold above 1", lambda: srm_test([10, 10], [0.5, 0.5], threshold=2.0), "threshold"),
    # expected_counts_dynamic
    ("no batches", lambda: expected_counts_dynamic([]), "batches"),
    ("batch not a pair", lambda: expected_counts_dynamic([(10,)]), "batches[0]"),
    ("negative traffic", lambda: expected_counts_dynamic([(-1, [1.0])]), "batches[0].traffic"),
    ("float traffic", lambda: expected_counts_dynamic([(1.5, [1.0])]), "batches[0].traffic"),
    (
        "weights not summing to 1",
        lambda: expected_counts_dynamic([(10, [0.5, 0.5]), (10, [0.5, 0.4999])]),
        "batches[1].weights",
    ),
    (
        "negative weight",
        lambda: expected_counts_dynamic([(10, [1.5, -0.5])]),
        "batches[0].weights[1]",
    ),
    ("empty weights", lambda: expected_counts_dynamic([(10, [])]), "batches[0].weights"),
    (
        "weights changing length",
        lambda: expected_counts_dynamic([(10, [0.5, 0.5]), (10, [1.0])]),
        "batches[1].weights",
    ),
    # lift_over_control
    ("control not a posterior", lambda: lift_over_control((1, 2), POSTERIOR), "control"),
    ("treatment not a posterior", lambda: lift_over_control(POSTERIOR, None), "treatment"),
    ("lift level", lambda: lift_over_control(POSTERIOR, POSTERIOR, level=1.5), "level"),
    ("lift draws", lambda: lift_over_control(POSTERIOR, POSTERIOR, draws=-5), "draws"),
    (
        "lift rng and seed",
        lambda: lift_over_control(POSTERIOR, POSTERIOR, rng=np.random.default_rng(), seed=2),
        "seed",
    ),
]


@pytest.mark.parametrize(("call", "field"), [case[1:] for case in CASES], ids=[c[0] for c in CASES])
def test_invalid_input_names_its_field(call: Callable[[], object], field: str) -> None:
    with pytest.raises(ValidationError) as raised:
        call()
    assert raised.value.field == field
    assert raised.value.message


def test_validation_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="clicks: cannot exceed impressions"):
        ArmCounts(1, 2)
