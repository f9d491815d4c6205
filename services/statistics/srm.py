"""Sample ratio mismatch (SRM): does the observed traffic split match the configured one?

A static 5:5 test that delivers 5,300 / 4,700 impressions out of 10,000 is not a fair comparison:
something (a cache, a bot filter, a crashing model endpoint) removes traffic from one arm, and
whatever removed it may also bias that arm's CTR. dynab checks the split before showing a winner.

The check is Pearson's chi-square goodness-of-fit test of the observed counts against the counts
the allocation should have produced. The threshold is deliberately strict (0.001 by default, as is
usual for SRM alarms): the test runs every hour on every experiment, and a lax threshold would
raise false alarms daily.

For a dynamic (bandit) test the allocation changes every batch, so the expected counts are the sum
over batches of the batch's traffic times the weights that were in force during it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from services.exceptions import ValidationError
from services.statistics._validation import check_count, check_probability

# Tolerance for "the expected values are shares summing to 1".
_SHARES_TOLERANCE = 1e-6
# Tolerance for a batch's weights summing to 1 (they come from the bandit, in double precision).
_WEIGHTS_TOLERANCE = 1e-9


@dataclass(frozen=True, eq=False)
class SrmResult:
    """Outcome of a sample ratio mismatch test.

    Attributes:
        chi2: Pearson's statistic ``Σ (observed - expected)² / expected`` (inf when an arm with
            expected share 0 received traffic).
        dof: Degrees of freedom: arms with a positive expected count, minus one.
        p_value: Probability of a split at least this uneven if the allocation was honoured.
        mismatch: ``p_value < threshold``: the split should not be trusted.
        observed: Observed counts per arm.
        expected: Expected counts per arm, scaled to the observed total.
        threshold: The significance threshold used.
    """

    chi2: float
    dof: int
    p_value: float
    mismatch: bool
    observed: np.ndarray
    expected: np.ndarray
    threshold: float


def srm_test(
    observed: Sequence[int], expected: Sequence[float], threshold: float = 0.001
) -> SrmResult:
    """Chi-square test of observed per-arm counts against the expected split.

    Args:
        observed: Impressions (or assignments) per arm.
        expected: Either shares summing to 1 (scaled to the observed total) or expected counts
            summing to the observed total, e.g. from ``expected_counts_dynamic``.
        threshold: Flag a mismatch when the p-value falls below it.

    Returns:
        The test result. No traffic at all is no evidence of a mismatch (p-value 1).

    Raises:
        ValidationError: on negative or non-integer counts, mismatched lengths, no arms, negative
            or non-finite expected values, or expected counts that do not sum to the total.
    """
    threshold = check_probability("threshold", threshold)
    if len(observed) < 1:
        raise ValidationError("observed", "needs at least one arm")
    obs = np.array(
        [check_count(f"observed[{i}]", value) for i, value in enumerate(observed)], dtype=float
    )
    exp = _check_nonnegative_vector("expected", expected)
    if exp.size != obs.size:
        raise ValidationError("expected", f"has {exp.size} arms but observed has {obs.size}")
    total = float(obs.sum())
    exp_total = float(exp.sum())
    if exp_total <= 0.0:
        raise ValidationError("expected", "must have a positive total")
    if abs(exp_total - 1.0) <= _SHARES_TOLERANCE:
        exp = exp / exp_total * total
    elif abs(exp_total - total) > _SHARES_TOLERANCE * max(total, 1.0):
        raise ValidationError(
            "expected",
            f"sums to {exp_total:g} but {total:g} were observed; give shares summing to 1 "
            "or counts summing to the observed total",
        )
    obs.setflags(write=False)
    exp.setflags(write=False)

    def result(chi2: float, dof: int, p_value: float) -> SrmResult:
        return SrmResult(chi2, dof, p_value, p_value < threshold, obs, exp, threshold)

    positive = exp > 0.0
    dof = max(int(positive.sum()) - 1, 0)
    if total == 0.0:
        return result(0.0, dof, 1.0)
    if np.any(obs[~positive] > 0):
        # Traffic reached an arm that should get none: no sampling noise explains that.
        return result(math.inf, dof, 0.0)
    chi2 = float(np.sum((obs[positive] - exp[positive]) ** 2 / exp[positive]))
    if dof == 0:
        # A single live arm receives everything by construction; there is nothing to test.
        return result(chi2, dof, 1.0)
    return result(chi2, dof, float(stats.chi2.sf(chi2, dof)))


def expected_counts_dynamic(batches: Sequence[tuple[int, Sequence[float]]]) -> np.ndarray:
    """Expected per-arm counts of a dynamic test whose weights changed batch by batch.

    Args:
        batches: ``(traffic, weights)`` per batch: the impressions served during the batch and
            the allocation (each arm's P(best), or the warm-up weights) in force during it.

    Returns:
        ``Σ_batches traffic * weights``, shape (K,).

    Raises:
        ValidationError: on no batches, negative traffic, weights that are negative, not finite,
            do not sum to 1 within 1e-9, or differ in length between batches.
    """
    if len(batches) < 1:
        raise ValidationError("batches", "needs at least one batch")
    total: np.ndarray | None = None
    for index, batch in enumerate(batches):
        try:
            traffic, weights = batch
        except (TypeError, ValueError) as error:
            raise ValidationError(
                f"batches[{index}]", "must be a (traffic, weights) pair"
            ) from error
        traffic = check_count(f"batches[{index}].traffic", traffic)
        field = f"batches[{index}].weights"
        w = _check_nonnegative_vector(field, weights)
        if w.size < 1:
            raise ValidationError(field, "needs at least one arm")
        if abs(float(w.sum()) - 1.0) > _WEIGHTS_TOLERANCE:
            raise ValidationError(field, f"must sum to 1, got {float(w.sum())!r}")
        if total is None:
            total = np.zeros(w.size)
        elif w.size != total.size:
            raise ValidationError(field, f"has {w.size} arms but earlier batches have {total.size}")
        total += traffic * w
    assert total is not None  # at least one batch was checked above
    return total


def _check_nonnegative_vector(field: str, values: Sequence[float]) -> np.ndarray:
    try:
        array = np.array(values, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValidationError(field, f"must be a sequence of numbers ({error})") from error
    if array.ndim != 1:
        raise ValidationError(field, f"must be one-dimensional, got shape {array.shape}")
    bad = np.flatnonzero(~np.isfinite(array) | (array < 0.0))
    if bad.size:
        index = int(bad[0])
        raise ValidationError(
            f"{field}[{index}]", f"must be finite and non-negative, got {array[index]}"
        )
    return array
