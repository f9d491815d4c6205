"""Beta posteriors of each model's CTR: densities, intervals, P(best), loss, batch history."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from services.parameters import ParameterBatch
from services.statistics import (
    BetaPosterior,
    common_grid,
    expected_loss,
    probability_best,
)

TABLE_COLUMNS = [
    "model_code",
    "alpha",
    "beta",
    "mean",
    "low",
    "high",
    "p_best",
    "expected_loss",
]
HISTORY_COLUMNS = [
    "batch_id",
    "window_end",
    "warmup",
    "model_code",
    "alpha",
    "beta",
    "mean",
    "low",
    "high",
    "p_best",
    "expected_loss",
    "weight",
]


def _posteriors(params: Mapping[str, tuple[int, int]]) -> dict[str, BetaPosterior]:
    # The bandit samples Beta(1 + alpha, 1 + beta): alpha clicks, beta non-clicks.
    return {code: BetaPosterior(1.0 + a, 1.0 + b) for code, (a, b) in params.items()}


def posterior_table(params: Mapping[str, tuple[int, int]], level: float = 0.95) -> pd.DataFrame:
    """One row per model: its ``(alpha, beta)``, posterior mean, credible interval, P(best) and
    expected loss (CTR given up by serving it instead of the best model)."""
    if not params:
        return pd.DataFrame(columns=TABLE_COLUMNS)
    posteriors = _posteriors(params)
    a = [p.a for p in posteriors.values()]
    b = [p.b for p in posteriors.values()]
    p_best = probability_best(a, b)
    loss = expected_loss(a, b)
    rows = []
    for i, (code, posterior) in enumerate(posteriors.items()):
        low, high = posterior.credible_interval(level)
        rows.append(
            {
                "model_code": code,
                "alpha": params[code][0],
                "beta": params[code][1],
                "mean": posterior.mean,
                "low": low,
                "high": high,
                "p_best": float(p_best[i]),
                "expected_loss": float(loss[i]),
            }
        )
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)


def density_frame(params: Mapping[str, tuple[int, int]], points: int = 300) -> pd.DataFrame:
    """Long frame ``(model_code, ctr, density)`` on one grid that resolves every posterior.

    Densities are evaluated only where the model's own posterior lives (its central mass), so
    a narrow curve is not drowned in thousands of zeros from a wide one's range.
    """
    if not params:
        return pd.DataFrame(columns=["model_code", "ctr", "density"])
    posteriors = _posteriors(params)
    grid = common_grid(list(posteriors.values()), n=points)
    frames = []
    for code, posterior in posteriors.items():
        low, high = posterior.grid(2)
        x = grid[(grid >= low) & (grid <= high)]
        frames.append(pd.DataFrame({"model_code": code, "ctr": x, "density": posterior.density(x)}))
    return pd.concat(frames, ignore_index=True)


FIGURES = ("mean", "low", "high", "p_best", "expected_loss")


def batch_figures(batch: ParameterBatch, level: float = 0.95) -> list[dict[str, object]]:
    """Per arm of ``batch``: its alpha and beta, posterior mean, credible interval, P(best) and
    expected loss under Beta(1 + alpha, 1 + beta) -- what the batch history shows.

    Two integrals per batch (~15 ms for 3 arms, ~85 ms for 10): stored with the batch at its
    first display (services/mongo/rollups.stored_batch_figures), so that a page showing hundreds
    of batches computes only the new ones, and the parameter job does not pay for them.
    """
    if not batch.arms:
        return []
    posteriors = [BetaPosterior(1.0 + arm.alpha, 1.0 + arm.beta) for arm in batch.arms]
    a = [p.a for p in posteriors]
    b = [p.b for p in posteriors]
    p_best = probability_best(a, b)
    loss = expected_loss(a, b)
    out: list[dict[str, object]] = []
    for i, arm in enumerate(batch.arms):
        low, high = posteriors[i].credible_interval(level)
        out.append(
            {
                "model_code": arm.model_code,
                "alpha": arm.alpha,
                "beta": arm.beta,
                "level": level,
                "mean": posteriors[i].mean,
                "low": float(low),
                "high": float(high),
                "p_best": float(p_best[i]),
                "expected_loss": float(loss[i]),
            }
        )
    return out


def figures_match(
    batch: ParameterBatch, figures: Sequence[Mapping[str, object]] | None, level: float = 0.95
) -> bool:
    """Whether stored ``figures`` are those of ``batch``'s arms (same models, counts, level)."""
    if not figures or len(figures) != len(batch.arms):
        return False
    return all(
        f.get("model_code") == arm.model_code
        and f.get("alpha") == arm.alpha
        and f.get("beta") == arm.beta
        and f.get("level") == level
        and all(f.get(name) is not None for name in FIGURES)
        for f, arm in zip(figures, batch.arms, strict=True)
    )


def batch_history_frame(
    batches: Sequence[ParameterBatch],
    level: float = 0.95,
    figures: Mapping[str, Sequence[Mapping[str, object]]] | None = None,
) -> pd.DataFrame:
    """Per batch and model: parameters, posterior mean and interval, P(best), loss, weight.

    P(best) is the batch's stored figure when the job wrote one; otherwise (warm-up batches)
    it is computed from the batch's alpha and beta, so the history has no gaps. ``figures``
    (by batch id, from :func:`batch_figures`) are used where they match the batch; the others
    are computed.
    """
    rows: list[dict[str, object]] = []
    for batch in batches:
        if not batch.arms:
            continue
        stored = (figures or {}).get(batch.batch_id)
        per_arm = stored if figures_match(batch, stored, level) else batch_figures(batch, level)
        for arm, f in zip(batch.arms, per_arm, strict=True):
            rows.append(
                {
                    "batch_id": batch.batch_id,
                    "window_end": batch.window_end,
                    "warmup": batch.warmup,
                    "model_code": arm.model_code,
                    "alpha": arm.alpha,
                    "beta": arm.beta,
                    "mean": f["mean"],
                    "low": f["low"],
                    "high": f["high"],
                    "p_best": float(arm.p_best if arm.p_best is not None else f["p_best"]),  # type: ignore[arg-type]
                    "expected_loss": float(f["expected_loss"]),  # type: ignore[arg-type]
                    "weight": float(arm.weight),
                }
            )
    return pd.DataFrame(rows, columns=HISTORY_COLUMNS)


def params_from_counts(counts: Mapping[str, object]) -> dict[str, tuple[int, int]]:
    """``(alpha, beta)`` = (clicks, non-clicks) per model from ``ArmCounts``."""
    return {
        code: (int(c.clicks), int(c.non_clicks))  # type: ignore[attr-defined]
        for code, c in counts.items()
    }


def params_from_batch(batch: ParameterBatch) -> dict[str, tuple[int, int]]:
    return {arm.model_code: (arm.alpha, arm.beta) for arm in batch.arms}


__all__ = [
    "batch_figures",
    "batch_history_frame",
    "density_frame",
    "params_from_batch",
    "params_from_counts",
    "posterior_table",
]
