"""Invariants of P(best) and expected loss over random arms (Hypothesis)."""

from __future__ import annotations

from random import Random

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from services.statistics import expected_loss, probability_best

# Impressions spread over 0 .. 1e8 on a log scale, CTRs anywhere in [0, 1]; small CTRs are
# drawn often because recommendation CTRs are a few percent.
impressions = st.one_of(
    st.integers(0, 100),
    st.integers(0, 100_000),
    st.integers(0, 100_000_000),
    st.sampled_from([1_000_000, 10_000_000, 100_000_000]),
)
ctr = st.one_of(st.floats(0.0, 1.0), st.floats(0.0, 0.1), st.sampled_from([0.05, 0.0500001]))


@st.composite
def arms(draw: st.DrawFn, min_arms: int = 2, max_arms: int = 6) -> tuple[np.ndarray, np.ndarray]:
    k = draw(st.integers(min_arms, max_arms))
    shown = np.array([draw(impressions) for _ in range(k)], dtype=np.float64)
    clicks = np.round(shown * np.array([draw(ctr) for _ in range(k)]))
    return 1.0 + clicks, 1.0 + shown - clicks


PROFILE = settings(max_examples=60, deadline=None)


@PROFILE
@given(arms())
def test_probabilities_lie_in_unit_interval_and_sum_to_one(shapes: tuple) -> None:
    p = probability_best(*shapes)
    assert np.all((p >= 0.0) & (p <= 1.0))
    assert abs(p.sum() - 1.0) < 1e-6


@PROFILE
@given(arms(), st.randoms(use_true_random=False))
def test_permutation_equivariance(shapes: tuple, random: Random) -> None:
    a, b = shapes
    order = list(range(a.size))
    random.shuffle(order)
    np.testing.assert_allclose(
        probability_best(a[order], b[order]), probability_best(a, b)[order], atol=1e-9
    )
    np.testing.assert_allclose(
        expected_loss(a[order], b[order]), expected_loss(a, b)[order], atol=1e-12
    )


@PROFILE
@given(arms(), st.integers(1, 1_000))
def test_more_clicks_never_lower_p_best(shapes: tuple, extra: int) -> None:
    # GIVEN arm 0 turns some of its non-clicks into clicks (same impressions)
    a, b = shapes
    moved = min(float(extra), b[0] - 1.0)
    better_a, better_b = a.copy(), b.copy()
    better_a[0] += moved
    better_b[0] -= moved
    # THEN its probability of being best does not drop
    assert probability_best(better_a, better_b)[0] >= probability_best(a, b)[0] - 1e-9


@PROFILE
@given(arms())
def test_expected_loss_is_non_negative_and_smallest_for_a_clear_winner(shapes: tuple) -> None:
    a, b = shapes
    loss = expected_loss(a, b)
    p = probability_best(a, b)
    assert np.all(loss >= 0.0)
    if p.max() > 0.99:
        assert loss[np.argmax(p)] <= loss.min() + 1e-12
