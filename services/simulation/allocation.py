"""The allocation rules of dynab's algorithms, vectorised over seeds.

Each function turns the counts of all seeds, shape (S, K), into serving shares, shape (S, K):
the probability that a request of the coming update is served by each arm. They restate the
per-request policies of :mod:`services.algorithms` (same floor formula, same warm-up rule, same
tie handling in expectation); ``tests/simulation/test_consistency.py`` checks them against
those policies on small cases.
"""

from __future__ import annotations

import numpy as np

from services.simulation.pbest import probability_best_grid


def floored(weights: np.ndarray, floor: float) -> np.ndarray:
    """``f + (1 - K f) w`` row by row: :func:`services.algorithms.floor.apply_floor`'s formula.

    Additive, never clip-and-renormalise, so each arm gets exactly ``f`` plus its share of the
    rest and the arms keep their order.
    """
    k = weights.shape[-1]
    w = weights / weights.sum(axis=-1, keepdims=True)
    return floor + (1.0 - k * floor) * w


def _split_among_leaders(score: np.ndarray) -> np.ndarray:
    """One-hot of the row maximum, a tie shared evenly (random tie-breaking, in expectation)."""
    leaders = score == score.max(axis=1, keepdims=True)
    return leaders / leaders.sum(axis=1, keepdims=True)


def epsilon_greedy_shares(
    impressions: np.ndarray, clicks: np.ndarray, epsilon: float
) -> np.ndarray:
    """``epsilon / K`` to every arm plus ``1 - epsilon`` to the best observed CTR.

    An arm without impressions has an observed CTR of 0, as in
    :class:`services.algorithms.epsilon_greedy.EpsilonGreedy`.
    """
    k = impressions.shape[1]
    ctr = np.divide(clicks, impressions, out=np.zeros(impressions.shape), where=impressions > 0)
    return epsilon / k + (1.0 - epsilon) * _split_among_leaders(ctr)


def ucb1_shares(impressions: np.ndarray, clicks: np.ndarray) -> np.ndarray:
    """All traffic to the first unplayed arm, else to the arm with the highest UCB1 index.

    ``index_k = mean_k + sqrt(2 ln n / n_k)`` as in :class:`services.algorithms.ucb1.UCB1`.
    """
    k = impressions.shape[1]
    played = impressions > 0
    n = np.maximum(impressions.sum(axis=1, keepdims=True), 1)
    safe = np.maximum(impressions, 1)
    index = clicks / safe + np.sqrt(2.0 * np.log(n) / safe)
    shares = _split_among_leaders(index)
    unplayed = ~played.all(axis=1)
    if unplayed.any():
        first = np.argmin(played[unplayed], axis=1)  # first False in arm order
        shares[unplayed] = np.eye(k)[first]
    return shares


def bts_in_warmup(
    elapsed_hours: float, window_impressions: np.ndarray, warmup_hours: float, min_impressions: int
) -> np.ndarray:
    """Per seed: still warming up? Until ``warmup_hours`` have passed AND every arm has the
    minimum impressions in the window (:func:`services.algorithms.warmup.in_warmup`).

    Returns:
        Boolean array, shape (S,).
    """
    if elapsed_hours < warmup_hours:
        return np.ones(window_impressions.shape[0], dtype=bool)
    return (window_impressions < min_impressions).any(axis=1)


def bts_shares(
    window_impressions: np.ndarray,
    window_clicks: np.ndarray,
    warm: np.ndarray,
    warmup_weights: np.ndarray,
    floor: float,
) -> np.ndarray:
    """The shares of one bTS batch: the warm-up split, or ``floored(P(best), floor)``.

    With the counts frozen for the batch, a fresh Thompson draw per request serves arm k with
    probability exactly P(k best) under ``Beta(1 + clicks, 1 + non-clicks)``, so the batch is
    simulated by its shares instead of by one draw per request.
    """
    shares = np.broadcast_to(warmup_weights, window_impressions.shape).copy()
    live = ~warm
    if live.any():
        a = 1.0 + window_clicks[live]
        b = 1.0 + (window_impressions[live] - window_clicks[live])
        shares[live] = floored(probability_best_grid(a, b), floor)
    return shares


def bts_shares_from_beta(
    a: np.ndarray, b: np.ndarray, warm: np.ndarray, warmup_weights: np.ndarray, floor: float
) -> np.ndarray:
    """:func:`bts_shares` for any ``Beta(a, b)`` per seed and arm (pooled or moment-matched)."""
    shares = np.broadcast_to(warmup_weights, a.shape).copy()
    live = ~warm
    if live.any():
        shares[live] = floored(probability_best_grid(a[live], b[live]), floor)
    return shares


def thompson_serve(
    impressions: np.ndarray, clicks: np.ndarray, requests: int, rng: np.random.Generator
) -> np.ndarray:
    """Serve ``requests`` requests per seed by per-request Thompson draws over frozen counts.

    Returns:
        Requests served per arm, shape (S, K).
    """
    s, k = impressions.shape
    a = 1.0 + clicks
    b = 1.0 + impressions - clicks
    draws = rng.beta(a[:, None, :], b[:, None, :], size=(s, requests, k))
    winners = draws.argmax(axis=2)
    return (winners[..., None] == np.arange(k)).sum(axis=1)
