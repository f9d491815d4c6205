"""unit_hash is stable and uniform; pick_bucket always lands in a real bucket."""

from __future__ import annotations

import hashlib

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from services.hashing import bucket_of, cumulative_weights, pick_bucket, unit_hash


def test_unit_hash_golden_values() -> None:
    # Literal values: a change here reshuffles every static test in production.
    assert unit_hash("member-1", "EXP-01") == 0.8561512276097413
    assert unit_hash("member-1", "EXP-01", "B1") == 0.4761277307124271
    assert unit_hash("") == 0.7283713340583248


def test_unit_hash_follows_the_documented_recipe() -> None:
    # The recipe in the module docstring, rebuilt from scratch, so Spark SQL can reproduce it.
    data = "8:member-1" + "6:EXP-01"
    top = int.from_bytes(hashlib.sha256(data.encode()).digest()[:8], "big")
    assert unit_hash("member-1", "EXP-01") == (top >> 11) / 2**53


def test_unit_hash_separates_parts_unambiguously() -> None:
    assert unit_hash("a|b", "c") != unit_hash("a", "b|c")
    assert unit_hash("ab", "c") != unit_hash("a", "bc")
    assert unit_hash("a", "") != unit_hash("a")


def test_unit_hash_is_uniform() -> None:
    u = np.array([unit_hash(f"member-{i}", "EXP-01") for i in range(20_000)])
    assert stats.kstest(u, "uniform").pvalue > 1e-4


@given(st.lists(st.text(), min_size=1, max_size=4))
def test_unit_hash_in_unit_interval(parts: list[str]) -> None:
    assert 0.0 <= unit_hash(*parts) < 1.0


def test_unit_hash_accepts_lone_surrogates() -> None:
    assert 0.0 <= unit_hash("member-\udcff") < 1.0


def test_pick_bucket_examples() -> None:
    weights = [0.2, 0.3, 0.5]
    assert pick_bucket(0.0, weights) == 0
    assert pick_bucket(0.19999, weights) == 0
    assert pick_bucket(0.2, weights) == 1
    assert pick_bucket(0.5, weights) == 2
    assert pick_bucket(0.9999999, weights) == 2
    # Weights need not sum to 1: 2:3:5 is the same split.
    assert pick_bucket(0.45, [2, 3, 5]) == 1


def test_pick_bucket_never_returns_a_zero_weight() -> None:
    assert pick_bucket(0.0, [0.0, 1.0]) == 1
    assert pick_bucket(0.999, [1.0, 0.0]) == 0
    # Weights that sum to a hair below 1 and u at the very top: the last real bucket.
    top = np.nextafter(1.0, 0.0)
    assert pick_bucket(top, [0.1] * 10) == 9
    assert bucket_of(1.0, cumulative_weights([0.5, 0.5, 0.0, 0.0])) == 1


@given(
    st.floats(0.0, 1.0, exclude_max=True),
    st.lists(st.floats(0.0, 1e6, allow_nan=False), min_size=1, max_size=12).filter(
        lambda w: sum(w) > 0
    ),
)
def test_pick_bucket_returns_a_valid_positive_weight_index(u: float, weights: list[float]) -> None:
    k = pick_bucket(u, weights)
    assert 0 <= k < len(weights)
    assert weights[k] > 0
