"""Statistics of dynab experiments: counts, Beta posteriors, who is winning, lift, SRM.

Pure functions and frozen value objects; no I/O. Monte Carlo functions take an injected
``numpy.random.Generator`` (or a seed) and return the seed with their result.
"""

from services.statistics.counts import ArmCounts
from services.statistics.lift import Lift, lift_over_control
from services.statistics.posterior import BetaPosterior, beta_posterior, common_grid
from services.statistics.probability_best import (
    MonteCarloEstimate,
    expected_loss,
    probability_best,
    probability_best_from_counts,
    probability_best_mc,
)
from services.statistics.srm import (
    SrmResult,
    UnitSrm,
    expected_counts_dynamic,
    srm_by_batch,
    srm_test,
)

__all__ = [
    "ArmCounts",
    "BetaPosterior",
    "Lift",
    "MonteCarloEstimate",
    "SrmResult",
    "UnitSrm",
    "beta_posterior",
    "common_grid",
    "expected_counts_dynamic",
    "expected_loss",
    "lift_over_control",
    "probability_best",
    "probability_best_from_counts",
    "probability_best_mc",
    "srm_by_batch",
    "srm_test",
]
