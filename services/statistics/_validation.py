"""Shared input checks for the statistics package.

Every check raises :class:`~services.exceptions.ValidationError` naming the offending field, so
that the console, the selector and the command line can all point at it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Integral, Real

import numpy as np

from services.exceptions import ValidationError


def check_count(field: str, value: object) -> int:
    """Return ``value`` as a Python ``int`` if it is a non-negative integer.

    Booleans are refused although they are ``int`` subclasses: ``True`` clicks is a bug upstream.
    """
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise ValidationError(field, f"must be an integer, got {value!r}")
    if value < 0:
        raise ValidationError(field, f"must be non-negative, got {value}")
    return int(value)


def check_positive_finite(field: str, value: object) -> float:
    """Return ``value`` as a float if it is a real number, finite and strictly positive."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ValidationError(field, f"must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise ValidationError(field, f"must be finite, got {number}")
    if number <= 0.0:
        raise ValidationError(field, f"must be positive, got {number}")
    return number


def check_probability(field: str, value: object) -> float:
    """Return ``value`` as a float if it lies strictly between 0 and 1."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ValidationError(field, f"must be a number, got {value!r}")
    number = float(value)
    if not 0.0 < number < 1.0:
        raise ValidationError(field, f"must be strictly between 0 and 1, got {number}")
    return number


def check_shape_arrays(
    a: Sequence[float], b: Sequence[float], max_total: float = math.inf
) -> tuple[np.ndarray, np.ndarray]:
    """Validate the Beta shape parameters of K arms and return them as float arrays.

    Args:
        a: First shape parameter per arm (``1 + clicks`` under the uniform prior).
        b: Second shape parameter per arm (``1 + non-clicks`` under the uniform prior).
        max_total: Largest ``a_k + b_k`` accepted (roughly the impressions of one arm).

    Returns:
        The two parameter vectors as one-dimensional float64 arrays of equal length K >= 1.

    Raises:
        ValidationError: on a length mismatch, no arms, a value that is not finite and > 0, or
            an arm whose ``a + b`` exceeds ``max_total``.
    """
    arrays = []
    for name, values in (("a", a), ("b", b)):
        try:
            array = np.asarray(values, dtype=np.float64)
        except (TypeError, ValueError) as error:
            raise ValidationError(name, f"must be a sequence of numbers ({error})") from error
        if array.ndim != 1:
            raise ValidationError(name, f"must be one-dimensional, got shape {array.shape}")
        arrays.append(array)
    a_arr, b_arr = arrays
    if a_arr.size != b_arr.size:
        raise ValidationError("b", f"has {b_arr.size} arms but a has {a_arr.size}")
    if a_arr.size < 1:
        raise ValidationError("a", "needs at least one arm")
    for name, array in (("a", a_arr), ("b", b_arr)):
        bad = np.flatnonzero(~np.isfinite(array) | (array <= 0.0))
        if bad.size:
            index = int(bad[0])
            raise ValidationError(
                f"{name}[{index}]", f"must be finite and positive, got {array[index]}"
            )
    too_large = np.flatnonzero(a_arr + b_arr > max_total)
    if too_large.size:
        index = int(too_large[0])
        raise ValidationError(
            f"b[{index}]",
            f"a + b = {a_arr[index] + b_arr[index]:g} exceeds the supported {max_total:g}",
        )
    return a_arr, b_arr


def resolve_rng(
    rng: np.random.Generator | None, seed: int | None
) -> tuple[np.random.Generator, int | None]:
    """Return the generator to draw from and the seed to report with the result.

    With neither argument a fresh seed is drawn from the operating system's entropy and returned,
    so that any Monte Carlo figure shown to an analyst can be reproduced exactly. A caller that
    injects its own generator owns its seed; ``None`` is reported then.
    """
    if rng is not None and seed is not None:
        raise ValidationError("seed", "give either rng or seed, not both")
    if rng is not None:
        if not isinstance(rng, np.random.Generator):
            raise ValidationError("rng", f"must be a numpy.random.Generator, got {type(rng)}")
        return rng, None
    seed = int(np.random.SeedSequence().entropy) if seed is None else check_count("seed", seed)
    return np.random.default_rng(seed), seed


def check_draws(value: object) -> int:
    """Return the number of Monte Carlo draws if it is a positive integer."""
    draws = check_count("draws", value)
    if draws < 1:
        raise ValidationError("draws", "must be at least 1")
    return draws
