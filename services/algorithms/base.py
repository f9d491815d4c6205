"""What every selection algorithm shares: the reasons, the result, and the policy base class.

A *policy* is an immutable object built once per batch from everything that stays fixed within
the batch (counts, weights, salts), and then asked for one arm per request. Building it is the
expensive part (validation, P(best) integration); choosing is meant to cost microseconds.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from services.exceptions import ValidationError


class Reason(StrEnum):
    """Why a model was served: the ``reason`` of the selector API, the one list of them."""

    #: A dynamic test still exploring with its configured split.
    WARMUP = "warmup"
    #: Batched Thompson sampling chose the model (draw or sticky mode).
    BTS = "bts"
    #: A static test's fixed split chose the model.
    STATIC = "static"
    #: The experiment is paused, so its control model is served.
    PAUSED = "paused"
    #: No experiment runs in the area: the area's default model (serving layer).
    DEFAULT = "default"
    #: The store or the algorithm failed: a safe answer was served instead (serving layer).
    FALLBACK = "fallback"


#: Every reason, in the order the selector API documents them.
REASONS: tuple[str, ...] = tuple(reason.value for reason in Reason)
_REASON_SET = frozenset(REASONS)


@dataclass(frozen=True, slots=True)
class Selection:
    """The answer to "which model serves this member now?".

    Attributes:
        model_code: The model to call.
        reason: One of :data:`REASONS`.
        batch_id: The parameter batch the answer came from (``None`` before the first batch).
        arm_index: The arm's position in the experiment, or ``None`` when no experiment decided
            (``default`` and some ``fallback`` answers).
        propensity: The probability that the policy in force served this model to this request,
            in (0, 1]: the batch's weight of the arm for ``bts``, the configured split for
            ``static`` and ``warmup``, 1 for the fixed answers (``paused``, ``default``,
            ``fallback``). ``None`` only when it cannot be stated (a weight that rounds to 0).
            Logged with every impression, it is what inverse-propensity estimates divide by.
    """

    model_code: str
    reason: str
    batch_id: str | None = None
    arm_index: int | None = None
    propensity: float | None = None

    def __post_init__(self) -> None:
        if self.reason not in _REASON_SET:
            raise ValidationError("reason", f"{self.reason!r} is not one of: {', '.join(REASONS)}")
        if not isinstance(self.model_code, str) or not self.model_code:
            raise ValidationError("model_code", "must be a non-empty string")
        if self.propensity is not None:
            object.__setattr__(self, "propensity", check_propensity("propensity", self.propensity))


class Policy(ABC):
    """Chooses one arm, by index, for one request; immutable and built once per batch."""

    @property
    @abstractmethod
    def n_arms(self) -> int:
        """How many arms the policy chooses among."""

    @abstractmethod
    def choose(self, member_id: str, rng: np.random.Generator) -> int:
        """Return the index of the arm that serves this request.

        Args:
            member_id: Who asks; hashing policies place the member by it, others ignore it.
            rng: The injected random generator; hashing policies never touch it.

        Returns:
            An index in ``range(n_arms)``.
        """


def argmax_random_tie(values: Sequence[float], rng: np.random.Generator) -> int:
    """Index of the largest value, ties broken uniformly at random.

    Always taking the first maximum would favour low-index arms whenever values tie (all arms
    unplayed, equal counts), which biases exactly the comparisons the simulation lab makes.
    The generator is used only when there is a tie, so tie-free sequences stay reproducible.
    """
    # Plain Python beats numpy's per-call overhead for the ten arms an experiment can have.
    xs = values.tolist() if isinstance(values, np.ndarray) else list(values)
    best = max(xs)
    first = xs.index(best)
    if xs.count(best) == 1:
        return first
    ties = [i for i, x in enumerate(xs) if x == best]
    return ties[int(rng.integers(len(ties)))]


def check_counts(field: str, values: Sequence[int]) -> tuple[int, ...]:
    """Return ``values`` as a tuple after checking they are non-negative whole numbers."""
    if isinstance(values, str | bytes):
        raise ValidationError(field, "must be a list of whole numbers")
    out = tuple(values)
    if not out:
        raise ValidationError(field, "at least one arm is needed")
    for i, v in enumerate(out):
        if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 0:
            raise ValidationError(
                f"{field}[{i}]", f"must be a non-negative whole number, got {v!r}"
            )
    return tuple(int(v) for v in out)


def check_propensity(field: str, value: object) -> float:
    """Return ``value`` as a float after checking it is a finite number in (0, 1].

    Zero is excluded: a model served with probability 0 was not served by the policy, and an
    inverse-propensity weight of 1/0 means nothing.
    """
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float | np.floating)
        or not math.isfinite(value)
        or not 0.0 < value <= 1.0
    ):
        raise ValidationError(field, f"must be a number in (0, 1], got {value!r}")
    return float(value)


def check_probability(field: str, value: object) -> float:
    """Return ``value`` as a float after checking it is a finite number in [0, 1]."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not 0.0 <= value <= 1.0
    ):
        raise ValidationError(field, f"must be a number in [0, 1], got {value!r}")
    return float(value)
