"""How much work a simulation asks for, estimated before it runs, and the budget it must fit.

The simulator is vectorised over seeds; its cost has three parts (constants measured with
``simulate`` on a shared 2-core machine, so they are rough, and on the safe side):

* **P(best) on a grid**: every seed, once per simulated hour (the winner record) and, for bTS,
  once per batch: ``~70 us + 150 ns x arms^2 x 152`` per seed and evaluation (the grid has
  ``arms x 19 x 8`` nodes and every arm is evaluated on all of them). It dominates: 1,000 seeds
  x 720 hours of a static split take ~2 minutes; with 10 arms the same run takes ~15 times longer
  and its temporaries need ~1 GB.
* **Per-request Thompson draws** (``ts``): one Beta draw per request, arm and seed, ~125 ns each.
  Impressions per hour matter only here (and in the draw buffer: seeds x requests per minute x
  arms x 8 bytes, three times over).
* **Ticks**: the per-minute loop of the per-event algorithms, small next to the rest.

A scenario is refused when the estimated time or memory exceeds the :class:`Budget`, with a
reason that names the figures and what to lower.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from services.exceptions import ValidationError
from services.simulation.scenario import (
    Algorithm,
    BatchedThompson,
    Scenario,
    StaticSplit,
    Thompson,
)

#: Seconds per seed and P(best) evaluation: a fixed part and a part per grid node and arm.
PBEST_FIXED_S = 70e-6
PBEST_NODE_S = 150e-9
GRID_NODES_PER_ARM = 19 * 8
#: Seconds per Beta draw of per-request Thompson sampling.
DRAW_S = 125e-9
#: Seconds per tick of the simulation loop, and per seed and arm within it.
TICK_S = 20e-6
TICK_ELEMENT_S = 15e-9
#: Live float64 copies of the (seeds, arms, grid nodes) array while P(best) is computed.
PBEST_TEMPORARIES = 8

ENV_SECONDS = "DYNAB_SIM_BUDGET_SECONDS"
ENV_MEMORY_MB = "DYNAB_SIM_BUDGET_MB"


@dataclass(frozen=True)
class Budget:
    """The most work one simulation may ask for (configurable by environment).

    Attributes:
        max_seconds: Estimated run time, in seconds of the reference machine.
        max_memory_mb: Estimated peak memory of the run, in MB.
    """

    max_seconds: float = 30.0
    max_memory_mb: float = 512.0

    def __post_init__(self) -> None:
        for name in ("max_seconds", "max_memory_mb"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise ValidationError(name, f"must be a positive number, got {value!r}")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Budget:
        """``DYNAB_SIM_BUDGET_SECONDS`` and ``DYNAB_SIM_BUDGET_MB``, defaults when unset."""
        env = os.environ if env is None else env
        values = {}
        for var, field in ((ENV_SECONDS, "max_seconds"), (ENV_MEMORY_MB, "max_memory_mb")):
            raw = env.get(var)
            if raw in (None, ""):
                continue
            try:
                values[field] = float(raw)  # type: ignore[arg-type]
            except ValueError:
                raise ValidationError(var, f"must be a number, got {raw!r}") from None
            if not values[field] > 0:
                raise ValidationError(var, f"must be positive, got {raw}")
        return cls(**values)


@dataclass(frozen=True)
class WorkEstimate:
    """What a simulation will cost, before it runs."""

    seconds: float
    memory_mb: float
    pbest_evaluations: int  # seeds x evaluations, all algorithms
    draws: int  # per-request Beta draws, all algorithms

    def refusal(self, budget: Budget) -> str | None:
        """Why the run is refused under ``budget``, or None when it fits."""
        over = []
        if self.seconds > budget.max_seconds:
            over.append(f"~{self.seconds:,.0f} s of computing (budget {budget.max_seconds:g} s)")
        if self.memory_mb > budget.max_memory_mb:
            over.append(f"~{self.memory_mb:,.0f} MB of memory (budget {budget.max_memory_mb:g} MB)")
        if not over:
            return None
        return (
            "This simulation is too large: it would need "
            + " and ".join(over)
            + ". Lower the seeds, the days or the number of algorithms (per-request Thompson "
            "sampling also grows with the impressions per hour)."
        )


def _update_minutes(algorithm: Algorithm) -> int:
    if isinstance(algorithm, BatchedThompson):
        return algorithm.batch_minutes
    if isinstance(algorithm, StaticSplit):
        return 60
    return algorithm.update_minutes


def estimate(scenario: Scenario, algorithms: Sequence[Algorithm]) -> WorkEstimate:
    """The estimated time and peak memory of ``compare(scenario, algorithms)``."""
    s, k, hours = scenario.n_seeds, scenario.n_arms, scenario.hours
    per_pbest = PBEST_FIXED_S + PBEST_NODE_S * k * k * GRID_NODES_PER_ARM if k > 1 else 0.0
    pbest_bytes = s * k * (k * GRID_NODES_PER_ARM + 1) * 8 * PBEST_TEMPORARIES if k > 1 else 0
    # imps, clicks and p_best (seeds, hours, arms) plus regret (seeds, hours), per algorithm:
    # compare() keeps every algorithm's result until the end.
    result_bytes = s * hours * (3 * k + 1) * 8
    seconds = 0.0
    evaluations = draws = 0
    peak_bytes = 0
    for algorithm in algorithms:
        update = _update_minutes(algorithm)
        ticks_per_hour = 60 // math.gcd(update, 60)
        ticks = hours * ticks_per_hour
        evals = hours
        if isinstance(algorithm, BatchedThompson):
            evals += math.ceil(hours * 60 / update)
        seconds += s * evals * per_pbest + ticks * (TICK_S + s * k * TICK_ELEMENT_S)
        evaluations += s * evals
        step_bytes = pbest_bytes
        if isinstance(algorithm, Thompson):
            n = scenario.impressions_per_hour * hours * s * k
            draws += n
            seconds += n * DRAW_S
            per_tick = math.ceil(scenario.impressions_per_hour / ticks_per_hour)
            step_bytes = max(step_bytes, 3 * s * per_tick * k * 8)
        peak_bytes = max(peak_bytes, step_bytes)
    total_mb = (peak_bytes + result_bytes * len(algorithms)) / 2**20
    return WorkEstimate(
        seconds=seconds, memory_mb=total_mb, pbest_evaluations=evaluations, draws=draws
    )


class BudgetExceededError(ValidationError):
    """A simulation larger than the budget; the message says by how much and what to lower."""

    def __init__(self, reason: str) -> None:
        super().__init__("scenario", reason)


def check_budget(
    scenario: Scenario, algorithms: Sequence[Algorithm], budget: Budget
) -> WorkEstimate:
    """The estimate of a run that fits ``budget``.

    Raises:
        BudgetExceededError: The run would exceed it.
    """
    work = estimate(scenario, algorithms)
    reason = work.refusal(budget)
    if reason is not None:
        raise BudgetExceededError(reason)
    return work


def progress_tracker(
    n_algorithms: int, report: Callable[[float, str], None]
) -> Callable[[str, int, int], None]:
    """A ``compare`` progress callback that reports the share of the whole run done (0..1).

    It reports only when the whole percentage changes, so a month-long run sends ~100 updates.
    """
    order: dict[str, int] = {}
    last = [-1]

    def hook(label: str, done: int, total: int) -> None:
        index = order.setdefault(label, len(order))
        share = (index + done / max(total, 1)) / max(n_algorithms, 1)
        percent = int(share * 100)
        if percent != last[0]:
            last[0] = percent
            report(min(share, 1.0), f"Simulating {label}: hour {done:,} of {total:,}")

    return hook
