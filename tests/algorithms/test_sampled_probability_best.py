"""The numpy-only P(best) the Lambda uses when it has no scipy agrees with the integration."""

from __future__ import annotations

import numpy as np
import pytest

from services.algorithms.thompson import sampled_probability_best
from services.statistics.probability_best import probability_best


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ([1.0, 1.0], [1.0, 1.0]),
        ([51.0, 81.0, 21.0], [951.0, 921.0, 981.0]),
        ([1973.0, 431.0], [27303.0, 6961.0]),
        ([120.0, 118.0, 125.0, 119.0], [1880.0, 1882.0, 1875.0, 1881.0]),
    ],
)
def test_sampled_shares_match_the_integral(a: list[float], b: list[float]) -> None:
    sampled = sampled_probability_best(a, b)
    exact = probability_best(a, b)
    # 1e6 draws: a share's standard error is at most 5e-4; 4e-3 is eight of them.
    np.testing.assert_allclose(sampled, exact, atol=4e-3)
    assert sampled.sum() == pytest.approx(1.0)


def test_every_instance_computes_the_same_shares_for_a_batch() -> None:
    a, b = [51.0, 81.0, 21.0], [951.0, 921.0, 981.0]
    assert np.array_equal(sampled_probability_best(a, b), sampled_probability_best(a, b))
    other = sampled_probability_best([52.0, 81.0, 21.0], b)
    assert not np.array_equal(other, sampled_probability_best(a, b))
