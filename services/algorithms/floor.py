"""The exposure floor: a minimum traffic share for every arm of a dynamic test."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from services.exceptions import ValidationError

#: How far from 1 a weight vector may sum: P(best) comes from numerical integration.
SUM_TOLERANCE = 1e-6


def check_weights(weights: Sequence[float] | np.ndarray, field: str = "weights") -> np.ndarray:
    """Return ``weights`` as a float array after checking they are a probability vector.

    Raises:
        ValidationError: If empty, not finite, negative, or not summing to 1 within
            :data:`SUM_TOLERANCE`.
    """
    w = np.asarray(weights, dtype=float)
    if w.ndim != 1 or w.size == 0:
        raise ValidationError(field, "must be a non-empty list of numbers")
    if not np.all(np.isfinite(w)):
        raise ValidationError(field, f"must all be finite, got {w.tolist()}")
    if np.any(w < 0):
        raise ValidationError(field, f"must not be negative, got {w.tolist()}")
    total = math.fsum(w.tolist())
    if abs(total - 1.0) > SUM_TOLERANCE:
        raise ValidationError(field, f"must sum to 1, got {total!r}")
    return w


def check_floor(floor: float, n_arms: int) -> float:
    """Return ``floor`` as a float after checking ``0 <= floor`` and ``floor * n_arms < 1``."""
    if isinstance(floor, bool) or not isinstance(floor, int | float) or not math.isfinite(floor):
        raise ValidationError("exposure_floor", f"must be a finite number, got {floor!r}")
    if floor < 0:
        raise ValidationError("exposure_floor", f"must not be negative, got {floor}")
    if floor * n_arms >= 1:
        raise ValidationError(
            "exposure_floor",
            f"floor x arms must be below 1 ({floor} x {n_arms} arms = {floor * n_arms:g}), "
            "or no traffic is left for the bandit",
        )
    return float(floor)


def apply_floor(weights: Sequence[float] | np.ndarray, floor: float) -> np.ndarray:
    """Give every arm at least ``floor`` of the traffic: ``p_k = f + (1 - K f) w_k``.

    Why additive and not clip-and-renormalise: clipping the small weights up to ``f`` and then
    rescaling everything to sum to 1 takes the extra mass from the leaders by an amount that
    depends on how many arms happened to be clipped, so the served shares are no longer
    P(best) of anything, and an arm just above the floor can end up below it after rescaling.
    The additive form is a fixed mixture, "with probability K f pick uniformly, else follow
    ``w``": it keeps the arms' order, gives every arm exactly ``f`` plus its share of the rest,
    and is what the draw mode does per request, so draw and sticky modes serve the same shares.

    Args:
        weights: A probability vector (non-negative, summing to 1), e.g. P(best) per arm.
        floor: The minimum share per arm, ``0 <= floor`` and ``floor * K < 1``.

    Returns:
        The floored shares, a new array summing to 1.

    Raises:
        ValidationError: If the weights or the floor are invalid.
    """
    w = check_weights(weights)
    f = check_floor(floor, w.size)
    # Rescale away the integration's rounding so the result sums to 1 to machine precision.
    w = w / w.sum()
    return f + (1.0 - w.size * f) * w
