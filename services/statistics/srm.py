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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

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


# --- SRM on the assignment unit ----------------------------------------------------------------
#
# The chi-square test assumes every counted unit was placed independently with the configured
# probabilities. That holds for the unit the allocation actually randomised:
#
# * a static test, and a dynamic test in ``sticky`` mode, place a *member* by a hash: all of a
#   member's visits go to the same arm, so impressions are clustered by member. With repeat
#   visitors the impression counts vary far more than a multinomial allows and an honest test
#   is flagged most of the time; counting each member once, at its first assignment, restores
#   the multinomial exactly.
# * a dynamic test in ``draw`` mode draws per request: the impression is the unit, judged
#   against the weights of the batch it was served under (its logged ``batch_id``), not the
#   weights in force at the top of the hour.
#
# Members first seen under different batches (sticky) or impressions of different batches
# (draw) are independent draws with different probabilities; their sum is compared with the sum
# of their expected counts. Pearson's statistic of such a sum is slightly below chi-square
# (its variance is that of a sum of multinomials, at most that of one multinomial with the
# averaged shares), so the test is conservative, never liberal.

#: The units a check can count, by the hourly field that holds them per batch.
UNIT_FIELDS: dict[str, str] = {
    "members": "first_members_by_batch",
    "impressions": "impressions_by_batch",
    "draws": "first_views_by_batch",
}
#: The batch key of counts whose events carried no ``batch_id``.
UNKNOWN_BATCH = "unknown"


@dataclass(frozen=True)
class UnitSrm:
    """The SRM check of one experiment on its assignment unit.

    Attributes:
        unit: ``members`` (first assignment of each member) or ``impressions``.
        model_codes: The arms, then any other model that received units (expected 0).
        observed: Units per model.
        expected: Expected units per model under the weights each unit was served with.
        chi2 / dof / p_value / mismatch / threshold: As in :class:`SrmResult`.
        batches: The batch ids whose units were counted, sorted.
        excluded: Units left out because the weights they were served with are unknown (no
            logged batch id after the first batch, or a batch without stored weights).
        rows_without_counts: Hourly rows lacking the unit's per-batch field (older documents).
    """

    unit: str
    model_codes: tuple[str, ...]
    observed: tuple[int, ...]
    expected: tuple[float, ...]
    chi2: float
    dof: int
    p_value: float
    mismatch: bool
    threshold: float
    batches: tuple[str, ...]
    excluded: int = 0
    rows_without_counts: int = 0

    @property
    def total(self) -> int:
        return sum(self.observed)

    def to_dict(self) -> dict[str, object]:
        """A plain, BSON-ready document (an infinite statistic is stored as null)."""
        return {
            "unit": self.unit,
            "model_codes": list(self.model_codes),
            "observed": list(self.observed),
            "expected": list(self.expected),
            "chi2": self.chi2 if math.isfinite(self.chi2) else None,
            "dof": self.dof,
            "p_value": self.p_value,
            "mismatch": self.mismatch,
            "threshold": self.threshold,
            "batches": list(self.batches),
            "excluded": self.excluded,
            "rows_without_counts": self.rows_without_counts,
        }


def srm_by_batch(
    rows: Iterable[Mapping[str, Any] | object],
    model_codes: Sequence[str],
    *,
    unit: str,
    weights_by_batch: Mapping[str, Mapping[str, float]] | None = None,
    split: Mapping[str, float] | None = None,
    unbatched_weights: Mapping[str, float] | None = None,
    unbatched_before: datetime | None = None,
    threshold: float = 0.001,
) -> UnitSrm:
    """SRM of hourly counts on the assignment ``unit``, each batch against its own weights.

    Args:
        rows: Hourly metrics of one experiment (dicts or objects with the same attributes):
            ``model_code``, ``hour``, and the unit's per-batch field -- ``first_members_by_batch``
            for ``members``, ``impressions_by_batch`` for ``impressions``,
            ``first_views_by_batch`` for ``draws`` --
            ``{batch_id: count}``, with :data:`UNKNOWN_BATCH` for events without a batch id.
        model_codes: The experiment's arms, in order.
        unit: ``members``, ``draws`` or ``impressions`` (see
            :func:`services.ops.split_check.assignment_unit`).
        weights_by_batch: ``{batch_id: {model_code: weight}}``: what each batch served.
        split: A fixed split ``{model_code: weight}`` that applies whatever the batch (a static
            test); when given, ``weights_by_batch`` is not needed.
        unbatched_weights: What was served to units without a batch id (before the first batch:
            the warm-up split); ``None`` leaves them out (counted in ``excluded``).
        unbatched_before: Apply ``unbatched_weights`` only to rows of hours before this time
            (the first batch's start): later unbatched units come from older logs, whose
            weights are unknown. ``None``: to every hour.
        threshold: Flag a mismatch when the p-value falls below it.

    Returns:
        The check. Weights are rescaled to sum to 1 per batch; a batch whose weights are
        missing, negative or all zero is left out.

    Raises:
        ValidationError: on an unknown unit, no arms, negative or non-integer counts, or a
            threshold outside [0, 1].
    """
    if unit not in UNIT_FIELDS:
        raise ValidationError("unit", f"{unit!r} is not one of: {', '.join(UNIT_FIELDS)}")
    threshold = check_probability("threshold", threshold)
    codes = [str(c) for c in model_codes]
    if not codes:
        raise ValidationError("model_codes", "needs at least one arm")
    field = UNIT_FIELDS[unit]
    fixed = _shares(split, codes) if split is not None else None
    if split is not None and fixed is None:
        raise ValidationError("split", "needs a positive weight for at least one arm")
    unbatched = _shares(unbatched_weights, codes) if unbatched_weights is not None else None
    batch_shares: dict[str, np.ndarray | None] = {}
    observed: dict[str, int] = dict.fromkeys(codes, 0)
    expected: dict[str, float] = dict.fromkeys(codes, 0.0)
    batches: set[str] = set()
    excluded = 0
    missing_rows = 0
    for index, row in enumerate(rows):
        per_batch = _field(row, field)
        if per_batch is None:
            missing_rows += 1
            continue
        if not isinstance(per_batch, Mapping):
            raise ValidationError(f"rows[{index}].{field}", "must map batch ids to counts")
        model = str(_field(row, "model_code"))
        hour = _field(row, "hour")
        for batch_id, value in per_batch.items():
            count = check_count(f"rows[{index}].{field}[{batch_id}]", value)
            if count == 0:
                continue
            if fixed is not None:
                shares: np.ndarray | None = fixed
            elif batch_id == UNKNOWN_BATCH:
                early = unbatched_before is None or (
                    isinstance(hour, datetime) and hour < unbatched_before
                )
                shares = unbatched if early else None
            else:
                if batch_id not in batch_shares:
                    known = (weights_by_batch or {}).get(batch_id)
                    batch_shares[batch_id] = _shares(known, codes) if known is not None else None
                shares = batch_shares[batch_id]
            if shares is None:
                excluded += count
                continue
            batches.add(str(batch_id))
            observed[model] = observed.get(model, 0) + count
            expected.setdefault(model, 0.0)
            for code, share in zip(codes, shares, strict=True):
                expected[code] += count * float(share)
    names = tuple(observed)
    obs = [observed[n] for n in names]
    exp = [expected[n] for n in names]
    if sum(obs) == 0:
        # Nothing counted: no evidence either way (srm_test needs shares to say so).
        exp = [1.0 / len(codes) if n in codes else 0.0 for n in names]
    result = srm_test(obs, exp, threshold)
    return UnitSrm(
        unit=unit,
        model_codes=names,
        observed=tuple(int(x) for x in result.observed),
        expected=tuple(float(x) for x in result.expected),
        chi2=float(result.chi2),
        dof=int(result.dof),
        p_value=float(result.p_value),
        mismatch=bool(result.mismatch),
        threshold=float(result.threshold),
        batches=tuple(sorted(batches)),
        excluded=excluded,
        rows_without_counts=missing_rows,
    )


def _field(row: Mapping[str, Any] | object, name: str) -> Any:
    if isinstance(row, Mapping):
        return row.get(name)
    return getattr(row, name, None)


def _shares(weights: Mapping[str, float] | None, codes: Sequence[str]) -> np.ndarray | None:
    """Weights aligned with ``codes`` and scaled to sum to 1; None if unusable."""
    if weights is None:
        return None
    values = []
    for code in codes:
        w = weights.get(code, 0.0)
        if w is None:
            w = 0.0
        if isinstance(w, bool) or not isinstance(w, int | float) or not math.isfinite(w) or w < 0:
            return None
        values.append(float(w))
    total = math.fsum(values)
    if total <= 0:
        return None
    return np.array(values) / total
