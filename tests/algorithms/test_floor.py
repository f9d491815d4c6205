"""apply_floor: every arm keeps at least f, the shares sum to 1, the order is kept."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.algorithms.floor import apply_floor


def test_apply_floor_is_the_additive_mixture() -> None:
    # GIVEN P(best) = (0.9, 0.1, 0) and a 5% floor over 3 arms
    # WHEN the floor is applied
    p = apply_floor([0.9, 0.1, 0.0], 0.05)
    # THEN p_k = f + (1 - K f) w_k
    np.testing.assert_allclose(p, [0.05 + 0.85 * 0.9, 0.05 + 0.85 * 0.1, 0.05])


def test_zero_floor_changes_nothing() -> None:
    np.testing.assert_array_equal(apply_floor([0.25, 0.75], 0.0), [0.25, 0.75])


def test_differs_from_clip_and_renormalise() -> None:
    # Clip-and-renormalise leaves the clipped arm *below* the floor after rescaling; additive
    # does not. This is why the additive form is used.
    w = np.array([0.97, 0.03, 0.0])
    clipped = np.maximum(w, 0.1)
    clipped /= clipped.sum()
    assert clipped.min() < 0.1
    assert apply_floor(w, 0.1).min() == pytest.approx(0.1)


@st.composite
def weights_and_floor(draw: st.DrawFn) -> tuple[np.ndarray, float]:
    raw = draw(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=10).filter(lambda w: sum(w) > 0))
    w = np.array(raw) / sum(raw)
    floor = draw(st.floats(0.0, 1.0 / len(w), exclude_max=True))
    return w, floor


@given(weights_and_floor())
def test_floor_invariants(case: tuple[np.ndarray, float]) -> None:
    w, floor = case
    p = apply_floor(w, floor)
    assert np.all(p >= floor)
    assert p.sum() == pytest.approx(1.0, abs=1e-9)
    order = np.argsort(w, kind="stable")
    assert np.all(np.diff(p[order]) >= 0)
