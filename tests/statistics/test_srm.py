"""Sample ratio mismatch checks and the expected counts of dynamic tests."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from services.statistics import expected_counts_dynamic, srm_test


def test_fair_split_passes() -> None:
    # GIVEN 10,000 impressions of a 50/50 static test split 5,050 / 4,950
    result = srm_test([5_050, 4_950], [0.5, 0.5])
    # THEN chi2 = 2 * 50^2 / 5000 = 1 with one degree of freedom: p = 0.3173, no mismatch
    assert result.chi2 == pytest.approx(1.0, abs=1e-12)
    assert result.dof == 1
    assert result.p_value == pytest.approx(0.31731050786291415, abs=1e-12)
    assert not result.mismatch
    np.testing.assert_array_equal(result.expected, [5_000.0, 5_000.0])


def test_exact_split_passes() -> None:
    result = srm_test([5_000, 5_000], [0.5, 0.5])
    assert result.chi2 == 0.0 and result.p_value == 1.0 and not result.mismatch


def test_uneven_split_is_a_mismatch() -> None:
    # GIVEN 5,300 / 4,700 where 5,000 / 5,000 was configured
    result = srm_test([5_300, 4_700], [0.5, 0.5])
    # THEN chi2 = 2 * 300^2 / 5000 = 36: p ~ 2e-9, far below the 0.001 threshold
    assert result.chi2 == pytest.approx(36.0, abs=1e-12)
    assert result.p_value == pytest.approx(1.973175290075e-9, rel=1e-9)
    assert result.mismatch


def test_shares_and_counts_give_the_same_answer() -> None:
    observed = [2_050, 2_900, 5_050]
    as_shares = srm_test(observed, [0.2, 0.3, 0.5])
    as_counts = srm_test(observed, [2_000.0, 3_000.0, 5_000.0])
    assert as_shares.chi2 == pytest.approx(as_counts.chi2, abs=1e-12)
    assert as_shares.p_value == pytest.approx(as_counts.p_value, abs=1e-15)
    # chi2 = 50^2/2000 + 100^2/3000 + 50^2/5000 = 1.25 + 3.3333 + 0.5, two degrees of freedom
    assert as_counts.chi2 == pytest.approx(1.25 + 10_000 / 3_000 + 0.5, abs=1e-12)
    assert as_counts.dof == 2
    assert as_counts.p_value == pytest.approx(math.exp(-as_counts.chi2 / 2), rel=1e-12)


def test_zero_traffic_is_no_mismatch() -> None:
    result = srm_test([0, 0], [0.5, 0.5])
    assert result.p_value == 1.0 and not result.mismatch and result.chi2 == 0.0


def test_traffic_to_an_arm_with_zero_share_is_a_mismatch() -> None:
    result = srm_test([500, 500, 1], [0.5, 0.5, 0.0])
    assert result.mismatch and result.p_value == 0.0 and math.isinf(result.chi2)


def test_an_arm_with_zero_share_and_no_traffic_is_left_out() -> None:
    result = srm_test([5_050, 4_950, 0], [0.5, 0.5, 0.0])
    assert result.dof == 1
    assert result.p_value == pytest.approx(0.31731050786291415, abs=1e-12)


def test_threshold_decides() -> None:
    observed, shares = [5_150, 4_850], [0.5, 0.5]  # chi2 = 9, p = 0.0027
    assert not srm_test(observed, shares).mismatch
    assert srm_test(observed, shares, threshold=0.01).mismatch


def test_dynamic_expected_counts_by_hand() -> None:
    # GIVEN three batches of a dynamic test: an even warm-up, then the bandit's weights
    batches = [(1_000, [0.5, 0.5]), (2_000, [0.8, 0.2]), (500, [0.1, 0.9])]
    # WHEN the expected counts are summed over batches
    expected = expected_counts_dynamic(batches)
    # THEN arm 0 expects 500 + 1600 + 50 and arm 1 expects 500 + 400 + 450
    np.testing.assert_allclose(expected, [2_150.0, 1_350.0], rtol=1e-15)
    # AND an observed 2,100 / 1,400 is consistent with them: chi2 = 50²/2150 + 50²/1350
    result = srm_test([2_100, 1_400], expected)
    assert result.chi2 == pytest.approx(2_500 / 2_150 + 2_500 / 1_350, rel=1e-12)
    assert result.p_value == pytest.approx(stats.chi2.sf(3.0146425495, 1), rel=1e-8)
    assert not result.mismatch


def test_dynamic_counts_catch_an_allocation_that_was_not_honoured() -> None:
    # An even 1,750 / 1,750 split looks fair but ignores the bandit's weights.
    expected = expected_counts_dynamic([(1_000, [0.5, 0.5]), (2_500, [0.8, 0.2])])
    assert srm_test([1_750, 1_750], expected).mismatch
