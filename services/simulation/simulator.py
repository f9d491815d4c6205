"""The vectorised simulator: one algorithm, one scenario, all seeds at once.

Time advances in *ticks* that tile both the hour and the algorithm's update interval (one
minute for per-event algorithms, the batch interval for bTS). In every tick each seed receives
the same number of requests, serves them from shares frozen at the last update, and draws the
clicks from each arm's true CTR of that hour. Results are recorded per simulated hour.

Regret is *expected* regret: the clicks lost against always serving the best arm,
``sum_k served_k (ctr_best - ctr_k)``. Using expected rather than realised clicks removes the
click noise from the comparison without biasing it.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from services.simulation.allocation import (
    bts_in_warmup,
    bts_shares,
    epsilon_greedy_shares,
    thompson_serve,
    ucb1_shares,
)
from services.simulation.pbest import probability_best_grid
from services.simulation.scenario import (
    UCB1,
    Algorithm,
    BatchedThompson,
    EpsilonGreedy,
    Scenario,
    StaticSplit,
    Thompson,
    check_algorithm,
)

#: Called after every simulated hour with (hours done, hours in total).
Progress = Callable[[int, int], None]


@dataclass(frozen=True, eq=False)
class SimulationResult:
    """Everything one simulated algorithm produced, per seed and per hour.

    Arrays are indexed ``[seed, hour, arm]``; hour h covers simulated time [h, h + 1).

    Attributes:
        scenario: The simulated world (its ``seed`` reproduces the result).
        algorithm: The algorithm and its settings.
        impressions: Requests served per arm in each hour, (S, H, K).
        clicks: Clicks per arm in each hour, (S, H, K).
        regret: Cumulative expected clicks lost against always serving the best arm, (S, H).
        p_best: P(best) on all counts since the start, at the end of each hour, (S, H, K).
        winner: The arm declared best at the end, or -1 when none reached the threshold, (S,).
        identified_hour: Hours elapsed from which the final winner's P(best) stayed at or
            above the threshold to the end; NaN when no winner was declared, (S,).
        first_crossing_hour: Hours elapsed when any arm first reached the threshold, NaN if
            never -- what an analyst who stops at the first crossing would see, (S,).
    """

    scenario: Scenario
    algorithm: Algorithm
    impressions: np.ndarray
    clicks: np.ndarray
    regret: np.ndarray
    p_best: np.ndarray
    winner: np.ndarray
    identified_hour: np.ndarray
    first_crossing_hour: np.ndarray

    @property
    def seed(self) -> int:
        return self.scenario.seed

    @property
    def label(self) -> str:
        return self.algorithm.label

    @property
    def identified(self) -> np.ndarray:
        """Per seed: was a winner declared by the end, (S,)."""
        return self.winner >= 0

    @property
    def correct(self) -> np.ndarray:
        """Per seed: was the declared winner the truly best arm (False with no true best), (S,)."""
        best = self.scenario.best_arm
        if best is None:
            return np.zeros(self.winner.shape, dtype=bool)
        return self.winner == best

    @property
    def allocation(self) -> np.ndarray:
        """Share of each hour's requests per arm, (S, H, K)."""
        total = self.impressions.sum(axis=2, keepdims=True)
        return self.impressions / np.maximum(total, 1)

    @property
    def exposure(self) -> np.ndarray:
        """Share of all requests so far per arm, at the end of each hour, (S, H, K)."""
        cum = self.impressions.cumsum(axis=1)
        return cum / np.maximum(cum.sum(axis=2, keepdims=True), 1)


def _update_minutes(algorithm: Algorithm) -> int:
    if isinstance(algorithm, BatchedThompson):
        return algorithm.batch_minutes
    if isinstance(algorithm, StaticSplit):
        return 60
    return algorithm.update_minutes


def _requests_per_tick(per_hour: int, ticks_per_hour: int) -> np.ndarray:
    """Spread an hour's requests over its ticks as evenly as whole numbers allow."""
    edges = (np.arange(ticks_per_hour + 1) * per_hour) // ticks_per_hour
    return np.diff(edges)


def _identification(p_best: np.ndarray, threshold: float) -> tuple[np.ndarray, ...]:
    """Final winner, the hour from which it stayed declared, and the first crossing hour."""
    h = p_best.shape[1]
    top = p_best.max(axis=2) >= threshold  # (S, H)
    winner = np.where(top[:, -1], p_best[:, -1].argmax(axis=1), -1)
    hours = np.arange(1, h + 1, dtype=float)
    first = np.where(top.any(axis=1), hours[top.argmax(axis=1)], np.nan)
    # The winner counts as identified from the first hour after the last one at which it was
    # *not* declared: index j is the end of hour j, i.e. j + 1 hours elapsed.
    leader_ok = np.take_along_axis(p_best, np.maximum(winner, 0)[:, None, None], axis=2)[..., 0]
    not_ok = leader_ok < threshold
    last_bad = np.where(not_ok.any(axis=1), h - 1 - not_ok[:, ::-1].argmax(axis=1), -1)
    identified = np.where(winner >= 0, last_bad + 2.0, np.nan)
    return winner, identified, first


def simulate(
    scenario: Scenario, algorithm: Algorithm, progress: Progress | None = None
) -> SimulationResult:
    """Run ``algorithm`` on ``scenario`` for all of its seeds at once.

    Args:
        scenario: The world; its ``seed`` seeds the one generator every draw comes from.
        algorithm: The algorithm and its settings.
        progress: Optional callback after every simulated hour.

    Returns:
        The per-seed, per-hour results.

    Raises:
        ValidationError: If the algorithm's settings do not fit the scenario.
    """
    check_algorithm(algorithm, scenario)
    rng = np.random.default_rng(scenario.seed)
    s, k, hours = scenario.n_seeds, scenario.n_arms, scenario.hours
    update = _update_minutes(algorithm)
    tick = math.gcd(update, 60)
    ticks_per_hour = 60 // tick
    ticks_per_update = update // tick
    requests = _requests_per_tick(scenario.impressions_per_hour, ticks_per_hour)

    cum_imps = np.zeros((s, k), dtype=np.int64)
    cum_clicks = np.zeros((s, k), dtype=np.int64)
    imps = np.zeros((s, hours, k), dtype=np.int64)
    clicks = np.zeros((s, hours, k), dtype=np.int64)
    regret = np.zeros((s, hours))
    p_best = np.zeros((s, hours, k))

    # bTS's evaluation window: the last `window` ticks of counts, summed as they slide.
    window_ticks = None
    if isinstance(algorithm, BatchedThompson) and algorithm.window_hours is not None:
        window_ticks = algorithm.window_hours * ticks_per_hour
    history: deque[tuple[np.ndarray, np.ndarray]] = deque()
    win_imps = np.zeros((s, k), dtype=np.int64)
    win_clicks = np.zeros((s, k), dtype=np.int64)
    if window_ticks is None:
        # No window: the counts since the start, updated in place with them.
        win_imps, win_clicks = cum_imps, cum_clicks
    even = np.full(k, 1.0 / k)
    shares = even[None, :].repeat(s, axis=0)

    for t in range(hours * ticks_per_hour):
        hour, within = divmod(t, ticks_per_hour)
        ctr = np.asarray(scenario.ctr_at(hour))
        n = int(requests[within])
        if t % ticks_per_update == 0:
            if isinstance(algorithm, StaticSplit):
                weights = even if algorithm.weights is None else np.asarray(algorithm.weights)
                shares = np.broadcast_to(weights, (s, k))
            elif isinstance(algorithm, EpsilonGreedy):
                shares = epsilon_greedy_shares(cum_imps, cum_clicks, algorithm.epsilon)
            elif isinstance(algorithm, UCB1):
                shares = ucb1_shares(cum_imps, cum_clicks)
            elif isinstance(algorithm, BatchedThompson):
                warm = bts_in_warmup(
                    t * tick / 60.0,
                    win_imps,
                    algorithm.warmup_hours,
                    algorithm.warmup_min_impressions,
                )
                warm_w = even if algorithm.warmup_weights is None else algorithm.warmup_weights
                shares = bts_shares(win_imps, win_clicks, warm, np.asarray(warm_w), algorithm.floor)
            frozen_imps, frozen_clicks = cum_imps.copy(), cum_clicks.copy()
        if isinstance(algorithm, Thompson):
            served = thompson_serve(frozen_imps, frozen_clicks, n, rng)
        else:
            served = rng.multinomial(n, shares / shares.sum(axis=1, keepdims=True))
        got = rng.binomial(served, ctr)
        cum_imps += served
        cum_clicks += got
        imps[:, hour] += served
        clicks[:, hour] += got
        regret[:, hour] += served @ (ctr.max() - ctr)
        if window_ticks is not None:
            history.append((served, got))
            win_imps += served
            win_clicks += got
            if len(history) > window_ticks:
                old_imps, old_clicks = history.popleft()
                win_imps -= old_imps
                win_clicks -= old_clicks
        if within == ticks_per_hour - 1:
            p_best[:, hour] = probability_best_grid(1.0 + cum_clicks, 1.0 + cum_imps - cum_clicks)
            if progress is not None:
                progress(hour + 1, hours)

    winner, identified, first = _identification(p_best, scenario.threshold)
    return SimulationResult(
        scenario=scenario,
        algorithm=algorithm,
        impressions=imps,
        clicks=clicks,
        regret=regret.cumsum(axis=1),
        p_best=p_best,
        winner=winner,
        identified_hour=identified,
        first_crossing_hour=first,
    )
