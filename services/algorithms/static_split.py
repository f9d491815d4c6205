"""The static A/B test: a fixed split (5:5, 2:3:5...) assigned by a stable hash of the member.

A hash rather than a draw, so that a member always sees the same model for the whole test and
1,000 visitors split 500/500 up to hash noise, not draw noise compounded by repeat visits.
"""

from __future__ import annotations

from services.algorithms.sticky import HashedSplit
from services.experiments import Experiment


def static_split_policy(experiment: Experiment) -> HashedSplit:
    """Members placed by ``unit_hash(member_id, experiment.hash_salt)`` into the configured split.

    No batch id in the hash: the assignment must not change during the test.

    Args:
        experiment: The experiment; its arms' normalised weights are the split.
    """
    return HashedSplit(experiment.normalised_weights, (experiment.hash_salt,))


def static_model(experiment: Experiment, member_id: str) -> str:
    """The model a member sees in a static test (for checks and the console; no caching)."""
    return experiment.arms[static_split_policy(experiment).choose(member_id)].model_code
