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
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from services.simulation.allocation import (
    bts_in_warmup,
    bts_shares_from_beta,
    epsilon_greedy_shares,
    thompson_serve,
    ucb1_shares,
)
from services.simulation.pbest import decision_grid
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
from services.statistics.decision import decision_path
from services.statistics.stratified import hourly_terms, moments_from_sums

#: Called after every simulated hour with (hours done, hours in total).
Progress = Callable[[int, int], None]


@dataclass(frozen=True, eq=False)
class LabDecision:
    """The decision rule applied hour by hour on one estimator, for all seeds.

    Attributes:
        estimator: ``pooled`` or ``stratified``.
        status: Final status code per seed (0 collecting, 1 leader, 2 winner, 3 no-difference).
        decided_hour: Hours elapsed when the decision was reached; NaN if none, (S,).
        arm: Declared (or leading) arm per seed, -1 if none, (S,).
        ab_estimate: Estimate of ``CTR_A - CTR_B`` at the end of every hour, (S, H).
        ab_truth: The traffic-weighted true ``CTR_A - CTR_B`` over the same hours, (H,).
        live: Hours counted for the rule (after warm-up, every arm served), (S, H).
        p_best: P(best) the rule saw each hour, (S, H, K).
        loss: Expected loss the rule saw each hour, (S, H, K).
        control_ctr: The control's (arm 0's) estimated CTR each hour, (S, H).
    """

    estimator: str
    status: np.ndarray
    decided_hour: np.ndarray
    arm: np.ndarray
    ab_estimate: np.ndarray
    ab_truth: np.ndarray
    live: np.ndarray
    p_best: np.ndarray
    loss: np.ndarray
    control_ctr: np.ndarray

    @property
    def winner(self) -> np.ndarray:
        return self.status == 2

    @property
    def no_difference(self) -> np.ndarray:
        return self.status == 3


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
        decisions: Per estimator (``pooled``, ``stratified``): the decision rule applied to
            every hourly batch, and the A-B estimates it saw.
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
    decisions: dict[str, LabDecision] = field(default_factory=dict)

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


class _Sums:
    """Running sums over completed hours, so any window's estimate costs O(1) per batch.

    ``cum[:, h]`` holds the sums over hours ``[0, h)``; a window ``[lo, hi)`` is
    ``cum[:, hi] - cum[:, lo]``, for the pooled counts and the stratified terms alike.
    """

    def __init__(self, s: int, hours: int, k: int) -> None:
        self.imps = np.zeros((s, hours + 1, k))
        self.clicks = np.zeros((s, hours + 1, k))
        self.terms = np.zeros((2, 4, s, hours + 1, k))

    def add(self, hour: int, imps: np.ndarray, clicks: np.ndarray) -> None:
        self.imps[:, hour + 1] = self.imps[:, hour] + imps
        self.clicks[:, hour + 1] = self.clicks[:, hour] + clicks
        self.terms[..., hour + 1, :] = self.terms[..., hour, :] + hourly_terms(imps, clicks)

    def beta(self, lo: int, hi: int, estimator: str) -> tuple[np.ndarray, ...]:
        """``(a, b, ctr)`` of ``Beta(1 + alpha, 1 + beta)`` per seed and arm over [lo, hi)."""
        if estimator == "pooled":
            n = self.imps[:, hi] - self.imps[:, lo]
            c = self.clicks[:, hi] - self.clicks[:, lo]
            ctr = np.divide(c, n, out=np.zeros(n.shape), where=n > 0)
            return 1.0 + c, 1.0 + n - c, ctr
        ctr, _, n_eff = moments_from_sums(self.terms[..., hi, :] - self.terms[..., lo, :])
        return 1.0 + ctr * n_eff, 1.0 + (1.0 - ctr) * n_eff, ctr


def _clicks(
    rng: np.random.Generator, served: np.ndarray, ctr: np.ndarray, scenario: Scenario
) -> np.ndarray:
    """Clicks of one tick: binomial, over-dispersed when members repeat (see ``Scenario``).

    A member with ``v`` requests clicks with her own propensity ``q`` (mean ``p``, coefficient
    of variation ``member_spread``), so the clicks' variance is
    ``n p (1 - p) + (v - 1) n Var(q)``. Drawing ``Binomial(n, q̄)`` with
    ``Var(q̄) = (v - 1) Var(q) / n`` reproduces that variance without simulating members.
    """
    if scenario.repeat_visits <= 1.0 or scenario.member_spread == 0.0:
        return rng.binomial(served, ctr)
    var_q = (scenario.member_spread * ctr) ** 2
    sd = np.sqrt((scenario.repeat_visits - 1.0) * var_q / np.maximum(served, 1))
    q = np.clip(ctr + sd * rng.standard_normal(served.shape), 0.0, 1.0)
    return rng.binomial(served, q)


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
    ttl = scenario.cache_ttl_seconds // 60
    latency = scenario.job_latency_minutes
    tick = math.gcd(math.gcd(update, 60), math.gcd(latency or 60, ttl or 60))
    ticks_per_hour = 60 // tick
    ticks_per_update = update // tick
    latency_ticks = latency // tick
    requests = _requests_per_tick(scenario.impressions_per_hour, ticks_per_hour)
    # Share of requests from a member answered within the TTL: repeat visits inside the TTL.
    hit_share = (1.0 - 1.0 / scenario.repeat_visits) * min(1.0, ttl / 60.0)

    cum_imps = np.zeros((s, k), dtype=np.int64)
    cum_clicks = np.zeros((s, k), dtype=np.int64)
    imps = np.zeros((s, hours, k), dtype=np.int64)
    clicks = np.zeros((s, hours, k), dtype=np.int64)
    regret = np.zeros((s, hours))

    bts = algorithm if isinstance(algorithm, BatchedThompson) else None
    window = bts.window_hours if bts is not None else None
    # The lab's decision batches: hourly, on all hours since the start (see docs/simulation.md).
    dec_p = {e: np.zeros((s, hours, k)) for e in ("pooled", "stratified")}
    dec_loss = {e: np.zeros((s, hours, k)) for e in ("pooled", "stratified")}
    dec_ctrl = {e: np.zeros((s, hours)) for e in ("pooled", "stratified")}
    dec_ab = {e: np.zeros((s, hours)) for e in ("pooled", "stratified")}
    live = np.zeros((s, hours), dtype=bool)
    truth = np.zeros(hours)
    true_ctr = np.array([scenario.ctr_at(h) for h in range(hours)])  # (H, K)
    sums = _Sums(s, hours, k)

    even = np.full(k, 1.0 / k)
    shares = even[None, :].repeat(s, axis=0)
    previous = shares
    pending: np.ndarray | None = None
    live_at = 0
    switched_at = 0
    warm = np.ones(s, dtype=bool)

    for t in range(hours * ticks_per_hour):
        hour, within = divmod(t, ticks_per_hour)
        ctr = true_ctr[hour]
        n = int(requests[within])
        if t % ticks_per_update == 0:
            new: np.ndarray | None = None
            if isinstance(algorithm, StaticSplit):
                weights = even if algorithm.weights is None else np.asarray(algorithm.weights)
                new = np.broadcast_to(weights, (s, k))
            elif isinstance(algorithm, EpsilonGreedy):
                new = epsilon_greedy_shares(cum_imps, cum_clicks, algorithm.epsilon)
            elif isinstance(algorithm, UCB1):
                new = ucb1_shares(cum_imps, cum_clicks)
            elif bts is not None:
                # The batch covers the whole hours before it; partial hours wait for the next.
                end = hour
                lo = 0 if window is None else max(0, end - window)
                a, b, _ = sums.beta(lo, end, bts.estimator)
                win_imps = sums.imps[:, end] - sums.imps[:, lo]
                warm = bts_in_warmup(
                    t * tick / 60.0, win_imps, bts.warmup_hours, bts.warmup_min_impressions
                )
                warm_w = even if bts.warmup_weights is None else bts.warmup_weights
                new = bts_shares_from_beta(a, b, warm, np.asarray(warm_w), bts.floor)
            frozen_imps, frozen_clicks = cum_imps.copy(), cum_clicks.copy()
            if new is not None:
                if latency_ticks and t > 0 and bts is not None:
                    pending, live_at = new, t + latency_ticks
                else:
                    previous, shares, switched_at = shares, new, t
        if pending is not None and t >= live_at:
            previous, shares, switched_at, pending = shares, pending, t, None
        if isinstance(algorithm, Thompson):
            served = thompson_serve(frozen_imps, frozen_clicks, n, rng)
        else:
            served_shares = shares
            if hit_share > 0 and ttl > 0:
                # Cached answers made before the switch still serve the old allocation.
                minutes = (t - switched_at + 0.5) * tick
                cached = hit_share * max(0.0, 1.0 - minutes / ttl)
                served_shares = cached * previous + (1.0 - cached) * shares
            served = rng.multinomial(n, served_shares / served_shares.sum(axis=1, keepdims=True))
        got = _clicks(rng, served, ctr, scenario)
        cum_imps += served
        cum_clicks += got
        imps[:, hour] += served
        clicks[:, hour] += got
        regret[:, hour] += served @ (ctr.max() - ctr)
        if within == ticks_per_hour - 1:
            sums.add(hour, imps[:, hour], clicks[:, hour])
            # The decision weighs all the evidence since the start; the window is the bandit's.
            lo = 0
            if k >= 2:
                truth[hour] = float((true_ctr[: hour + 1, 0] - true_ctr[: hour + 1, 1]).mean())
            served_all = (cum_imps > 0).all(axis=1)
            past_warmup = (hour + 1) >= (bts.warmup_hours if bts is not None else 0.0)
            live[:, hour] = served_all & past_warmup & (~warm if bts is not None else True)
            for est in ("pooled", "stratified"):
                a, b, est_ctr = sums.beta(lo, hour + 1, est)
                dec_p[est][:, hour], dec_loss[est][:, hour] = decision_grid(a, b)
                dec_ctrl[est][:, hour] = est_ctr[:, 0]
                if k >= 2:
                    dec_ab[est][:, hour] = est_ctr[:, 0] - est_ctr[:, 1]
            if progress is not None:
                progress(hour + 1, hours)

    decisions = {}
    for est in ("pooled", "stratified"):
        status, decided, arm, _ = decision_path(
            dec_p[est], dec_loss[est], dec_ctrl[est], live, scenario.rule
        )
        decisions[est] = LabDecision(
            estimator=est,
            status=status,
            decided_hour=np.where(decided >= 0, decided + 1.0, np.nan),
            arm=arm,
            ab_estimate=dec_ab[est],
            ab_truth=truth,
            live=live,
            p_best=dec_p[est],
            loss=dec_loss[est],
            control_ctr=dec_ctrl[est],
        )
    # P(best) on all counts since the start, uniform prior: the pooled decision's own figure.
    p_best = dec_p["pooled"]
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
        decisions=decisions,
    )
