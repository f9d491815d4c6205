"""The simulation lab: how would each algorithm have done, before a test starts?

Pure and vectorised: a :class:`Scenario` (true CTRs, traffic, horizon, seeds) and an algorithm
configuration in, a :class:`SimulationResult` (per seed, per hour) out, and a summary table that
compares the algorithms with the static split. See ``docs/simulation.md``.
"""

from services.simulation.report import (
    SummaryRow,
    compare,
    format_table,
    summarise,
    summary_frame,
    timeline_frame,
)
from services.simulation.scenario import (
    UCB1,
    Algorithm,
    AlgorithmKind,
    BatchedThompson,
    EpsilonGreedy,
    Scenario,
    StaticSplit,
    Thompson,
)
from services.simulation.simulator import SimulationResult, simulate

__all__ = [
    "UCB1",
    "Algorithm",
    "AlgorithmKind",
    "BatchedThompson",
    "EpsilonGreedy",
    "Scenario",
    "SimulationResult",
    "StaticSplit",
    "SummaryRow",
    "Thompson",
    "compare",
    "format_table",
    "simulate",
    "summarise",
    "summary_frame",
    "timeline_frame",
]
