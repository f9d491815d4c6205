"""The declared decision rule: when may a test say "winner"?

A winner is declared only when, after warm-up, the same model has

* P(best) ≥ ``min_p_best`` (default 0.95), and
* expected loss ``E[max_i p_i - p_k]`` ≤ ``max_loss_fraction`` × the control's CTR (default 1 %),

on the stratified estimates of ``consecutive_batches`` batches in a row (default 18 hourly
batches: the lab's figures in docs/statistics.md chose it; 3 crowns a false winner in a quarter of
tests on identical models under a daily cycle). When every
model's expected loss is below that threshold for as many batches, the test ends as
``no-difference``: whichever model is served, at most 1 % of the control's CTR is at stake. Both
are decisions: once reached they stay, with the batch that reached them. Before that the status
is ``leader`` (a model leads, not decided) or ``collecting`` (warm-up, or no impressions yet).

Pure: a history of per-batch results in, a :class:`Decision` out. :func:`decision_path` is the
vectorised form the simulation lab uses on many seeds at once; :func:`decision_status` calls it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from scipy import optimize, stats

from services.decision_rule import DecisionRule
from services.exceptions import ValidationError


class DecisionStatus(StrEnum):
    COLLECTING = "collecting"
    LEADER = "leader"
    WINNER = "winner"
    NO_DIFFERENCE = "no-difference"


_CODES = {
    0: DecisionStatus.COLLECTING,
    1: DecisionStatus.LEADER,
    2: DecisionStatus.WINNER,
    3: DecisionStatus.NO_DIFFERENCE,
}


@dataclass(frozen=True)
class BatchResult:
    """What one batch says about the race, on the stratified estimates.

    Attributes:
        batch_id: The batch.
        warmup: Whether the experiment was still warming up at this batch.
        model_codes: The models, in the order of the other tuples.
        p_best: P(best) per model.
        expected_loss: Expected loss per model, in CTR units.
        control_ctr: The control's (stratified) CTR.
        has_data: Whether every model had impressions in the batch's window.
    """

    batch_id: str
    warmup: bool
    model_codes: tuple[str, ...]
    p_best: tuple[float, ...]
    expected_loss: tuple[float, ...]
    control_ctr: float
    has_data: bool = True


@dataclass(frozen=True)
class Decision:
    """The status after the latest batch.

    Attributes:
        status: ``collecting``, ``leader``, ``winner`` or ``no-difference``.
        leader: The model with the highest P(best) in the latest batch (None while collecting);
            for ``winner``, the declared model.
        p_best: The leader's P(best) in the latest batch.
        since_batch: For ``winner`` / ``no-difference``: the batch at which the rule was met.
        streak: Consecutive batches (up to the latest) that met the winner rule.
        rule: The rule applied.
    """

    status: DecisionStatus
    leader: str | None
    p_best: float | None
    since_batch: str | None
    streak: int
    rule: DecisionRule

    @property
    def label(self) -> str:
        """How console and reports name the standing: "winner" only when the rule says so."""
        if self.status is DecisionStatus.WINNER:
            return f"winner: {self.leader} (since batch {self.since_batch})"
        if self.status is DecisionStatus.NO_DIFFERENCE:
            return f"no difference (since batch {self.since_batch})"
        if self.status is DecisionStatus.LEADER and self.p_best is not None:
            return f"leading: {self.leader} (P(best) {self.p_best:.0%}, not decided)"
        return "collecting (warm-up or too little data)"


def decision_path(
    p_best: np.ndarray,
    loss: np.ndarray,
    control_ctr: np.ndarray,
    live: np.ndarray,
    rule: DecisionRule,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Apply the rule batch by batch to many histories at once.

    Args:
        p_best: P(best), shape (S, T, K) for S histories of T batches.
        loss: Expected loss, (S, T, K).
        control_ctr: The control's CTR per batch, (S, T).
        live: Whether each batch counts (after warm-up, with data), (S, T).
        rule: The rule.

    Returns:
        ``(status, decided_at, arm, streak)``: the final status code per history (0 collecting,
        1 leader, 2 winner, 3 no-difference; see :class:`DecisionStatus`), the batch index at
        which a decision was reached (-1 if none), the leader or declared arm (-1 if none) and
        the final winner streak. Decisions are terminal: later batches do not undo them.
    """
    s, t, _ = p_best.shape
    threshold = rule.max_loss_fraction * control_ctr
    leader = p_best.argmax(axis=2)
    top = np.take_along_axis(p_best, leader[..., None], axis=2)[..., 0]
    leader_loss = np.take_along_axis(loss, leader[..., None], axis=2)[..., 0]
    wins = live & (top >= rule.min_p_best) & (leader_loss <= threshold)
    flat = live & (loss <= threshold[..., None]).all(axis=2)

    status = np.zeros(s, dtype=np.int64)
    decided = np.full(s, -1, dtype=np.int64)
    arm = np.full(s, -1, dtype=np.int64)
    win_streak = np.zeros(s, dtype=np.int64)
    flat_streak = np.zeros(s, dtype=np.int64)
    prev_leader = np.full(s, -1, dtype=np.int64)
    n = rule.consecutive_batches
    for j in range(t):
        open_ = decided < 0
        same_leader = leader[:, j] == prev_leader
        # A streak of "winner" batches only counts while the leader stays the same model.
        win_streak = np.where(wins[:, j], np.where(same_leader, win_streak + 1, 1), 0)
        flat_streak = np.where(flat[:, j], flat_streak + 1, 0)
        prev_leader = np.where(wins[:, j], leader[:, j], -1)
        no_diff = open_ & (flat_streak >= n)
        winner = open_ & ~no_diff & (win_streak >= n)
        status = np.where(no_diff, 3, np.where(winner, 2, status))
        arm = np.where(winner | no_diff, leader[:, j], arm)
        decided = np.where(winner | no_diff, j, decided)
        still = decided < 0
        status = np.where(still, np.where(live[:, j], 1, 0), status)
        arm = np.where(still, np.where(live[:, j], leader[:, j], -1), arm)
    return status, decided, arm, win_streak


def decision_status(history: Sequence[BatchResult], rule: DecisionRule) -> Decision:
    """The decision after the latest batch of ``history`` (oldest first).

    Args:
        history: Per-batch results, oldest first, all with the same models.
        rule: The experiment's decision rule.

    Returns:
        The status, the leader or declared model, and since which batch a decision holds.
    """
    if not isinstance(rule, DecisionRule):
        raise ValidationError("rule", f"must be a DecisionRule, got {type(rule).__name__}")
    if not history:
        return Decision(DecisionStatus.COLLECTING, None, None, None, 0, rule)
    codes = history[0].model_codes
    for b in history:
        if b.model_codes != codes:
            raise ValidationError("history", f"batch {b.batch_id} has other models than the first")
    p = np.array([[b.p_best for b in history]], dtype=float)
    loss = np.array([[b.expected_loss for b in history]], dtype=float)
    ctrl = np.array([[b.control_ctr for b in history]], dtype=float)
    live = np.array([[(not b.warmup) and b.has_data for b in history]])
    status, decided, arm, streak = decision_path(p, loss, ctrl, live, rule)
    code = _CODES[int(status[0])]
    latest = history[-1]
    if code is DecisionStatus.COLLECTING:
        return Decision(code, None, None, None, 0, rule)
    best = int(arm[0]) if int(arm[0]) >= 0 else int(np.argmax(latest.p_best))
    since = history[int(decided[0])].batch_id if decided[0] >= 0 else None
    return Decision(
        status=code,
        leader=codes[best],
        p_best=float(latest.p_best[best]),
        since_batch=since,
        streak=int(streak[0]),
        rule=rule,
    )


def _loss_normal(diff: float, sd: float) -> float:
    """Leader's expected loss when the difference is ``N(diff, sd²)``: ``sd φ(z) - diff Φ(-z)``."""
    z = diff / sd
    return sd * float(stats.norm.pdf(z)) - diff * float(stats.norm.sf(z))


def hours_to_decision(
    ctrs: Sequence[float],
    effective_impressions: Sequence[float],
    impressions_per_hour: Sequence[float],
    control_ctr: float,
    rule: DecisionRule,
    *,
    window_hours: float | None = None,
    batch_hours: float = 1.0,
    horizon_hours: float = 24.0 * 90,
) -> float | None:
    """Approximate hours until the rule can be met, if the current estimates and traffic hold.

    Normal approximation for the leader ``L`` against the runner-up ``R``: with ``d = p_L - p_R``
    and ``σ(t)² = Σ_{k∈{L,R}} p_k (1 - p_k) / (n_k + r_k t)`` (``n_k`` effective impressions
    now, ``r_k`` impressions per hour), the rule holds once ``Φ(d / σ) ≥ min_p_best`` and the
    loss ``σ φ(d/σ) - d Φ(-d/σ) ≤ max_loss_fraction × control CTR``. Both sides only tighten as
    ``t`` grows, so the first such ``t`` is found by root-finding, then the
    ``consecutive_batches - 1`` further batches are added. With a sliding window the counts stop
    growing once the window is full (``n_k + r_k t`` is capped at ``r_k × window``).

    Returns:
        Hours from now, or None when the rule cannot be met within ``horizon_hours`` at this
        traffic (e.g. no difference between the leader and the runner-up).
    """
    p = np.asarray(ctrs, dtype=float)
    n0 = np.asarray(effective_impressions, dtype=float)
    r = np.asarray(impressions_per_hour, dtype=float)
    if p.size < 2:
        return None
    order = np.argsort(-p)
    lead, runner = int(order[0]), int(order[1])
    diff = float(p[lead] - p[runner])
    threshold = rule.max_loss_fraction * control_ctr
    z = float(stats.norm.ppf(rule.min_p_best))

    def sd(t: float) -> float:
        n = n0 + r * t
        if window_hours is not None:
            n = np.minimum(n, np.maximum(r * window_hours, n0))
        idx = [lead, runner]
        var = p[idx] * (1.0 - p[idx]) / np.maximum(n[idx], 1e-9)
        return float(math.sqrt(var.sum()))

    def gap(t: float) -> float:
        s = sd(t)
        if diff <= 0:
            return 1.0
        return max(z - diff / s, _loss_normal(diff, s) - threshold)

    if gap(0.0) <= 0:
        return (rule.consecutive_batches - 1) * batch_hours
    if gap(horizon_hours) > 0:
        return None
    t = optimize.brentq(gap, 0.0, horizon_hours, xtol=0.1)
    return float(
        math.ceil(t / batch_hours) * batch_hours + (rule.consecutive_batches - 1) * batch_hours
    )
