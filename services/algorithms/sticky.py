"""Hashed split: place a member by a stable hash into buckets sized by weights.

The sticky bTS mode, the static split and the sticky warm-up are all this algorithm with
different weights and salts. A hash instead of a draw makes the answer a function of the
member: the same member gets the same arm for as long as the weights and salts stay the same
(a batch for bTS, the whole test for a static split), and over many members the arms' shares
match the weights, because the hash is uniform on [0, 1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from services.algorithms.base import Policy
from services.exceptions import ValidationError
from services.hashing import bucket_of, cumulative_weights, unit_hash


@dataclass(frozen=True)
class HashedSplit(Policy):
    """Serve arm k to the members whose ``unit_hash(member_id, *salt)`` falls in bucket k.

    Attributes:
        weights: Share per arm (non-negative, positive total; scaled to sum to 1).
        salt: Strings hashed after the member id; change them to reshuffle every member.
    """

    weights: tuple[float, ...]
    salt: tuple[str, ...] = ()
    _cumulative: tuple[float, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        weights = tuple(float(w) for w in np.asarray(self.weights, dtype=float).ravel())
        object.__setattr__(self, "weights", weights)
        object.__setattr__(self, "_cumulative", cumulative_weights(weights))
        salt = tuple(self.salt) if not isinstance(self.salt, str) else (self.salt,)
        for i, part in enumerate(salt):
            if not isinstance(part, str):
                raise ValidationError(f"salt[{i}]", f"must be a string, got {part!r}")
        object.__setattr__(self, "salt", salt)

    @property
    def n_arms(self) -> int:
        return len(self.weights)

    def choose(self, member_id: str, rng: np.random.Generator | None = None) -> int:
        """The member's arm; ``rng`` is accepted for the common interface and never used."""
        if not isinstance(member_id, str) or not member_id:
            raise ValidationError("member_id", "must be a non-empty string")
        return bucket_of(unit_hash(member_id, *self.salt), self._cumulative)


def sticky_bts_policy(
    experiment_id: str, batch_id: str | None, weights: Sequence[float] | np.ndarray
) -> HashedSplit:
    """The sticky bTS mode for one batch: ``unit_hash(member_id, experiment_id, batch_id)``.

    The batch id is part of the hash so that members are reshuffled at every batch: otherwise
    the members hashing near 0 would always sit in the first arm's bucket, and a member's
    experience would depend on where the hash put them rather than on the posteriors.

    Args:
        experiment_id: The experiment's id.
        batch_id: The parameter batch's id (``None`` before the first batch hashes as ``""``).
        weights: The batch's serving shares, from the snapshot or :func:`.sticky_weights`.
    """
    return HashedSplit(tuple(np.asarray(weights, dtype=float)), (experiment_id, batch_id or ""))
