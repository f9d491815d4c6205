"""Shared builders for the selection tests: experiments, snapshots and a clean plan cache."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pytest
from scipy import stats

from services.experiments import Arm, Experiment, ExperimentType, ServingMode, Status
from services.parameters import ArmParameters, ParameterSnapshot
from services.selection import clear_cache

START = datetime(2026, 11, 28, 9, 0, 0)
#: Well past any warm-up in these tests.
LATER = START + timedelta(days=2)


@pytest.fixture(autouse=True)
def _fresh_plan_cache() -> Iterator[None]:
    # Each test sees the selector as a cold Lambda would: no plan left over from another test.
    clear_cache()
    yield
    clear_cache()


def make_experiment(
    weights: Sequence[float] = (1.0, 1.0),
    *,
    experiment_type: ExperimentType = ExperimentType.DYNAMIC,
    **changes: Any,
) -> Experiment:
    """A running experiment with one arm per weight; the first arm is the control."""
    arms = tuple(
        Arm(model_code=f"EXP-01-M{i}", weight=w, control=(i == 0)) for i, w in enumerate(weights)
    )
    config: dict[str, Any] = {
        "experiment_id": "EXP-01",
        "name": "selection test",
        "area_code": "main",
        "type": experiment_type,
        "arms": arms,
        "warmup_hours": 6.0,
        "warmup_min_impressions": 1000,
        "serving_mode": ServingMode.DRAW,
        "status": Status.RUNNING,
        "started_at": START,
    }
    config.update(changes)
    return Experiment(**config)


def make_snapshot(
    experiment: Experiment,
    alphas: Sequence[int],
    betas: Sequence[int],
    *,
    batch_id: str | None = "B-001",
    weights: Sequence[float | None] | None = None,
    warmup: bool = False,
) -> ParameterSnapshot:
    """The experiment's snapshot with the given clicks (alphas) and non-clicks (betas)."""
    stored = weights if weights is not None else [None] * len(alphas)
    arms = tuple(
        ArmParameters(code, a, b, w)
        for code, a, b, w in zip(experiment.model_codes, alphas, betas, stored, strict=True)
    )
    return ParameterSnapshot(experiment.experiment_id, batch_id, arms, warmup=warmup)


def reference_probability_best(alphas: Sequence[int], betas: Sequence[int]) -> np.ndarray:
    """P(arm k best) by our own quadrature, independent of services.statistics.

    P(k best) = integral of pdf_k(x) * prod_{j != k} cdf_j(x) dx, on a dense grid over the
    union of the arms' central 1 - 2e-12 mass (outside it every integrand is negligible).
    """
    dists = [stats.beta(1 + a, 1 + b) for a, b in zip(alphas, betas, strict=True)]
    lo = min(d.ppf(1e-12) for d in dists)
    hi = max(d.ppf(1 - 1e-12) for d in dists)
    x = np.linspace(lo, hi, 200_001)
    pdf = np.array([d.pdf(x) for d in dists])
    cdf = np.array([d.cdf(x) for d in dists])
    out = np.empty(len(dists))
    for k in range(len(dists)):
        others = np.prod(np.delete(cdf, k, axis=0), axis=0)
        out[k] = np.trapezoid(pdf[k] * others, x)
    return out / out.sum()


def binomial_bound(p: np.ndarray, n: int, sigmas: float = 5.0) -> np.ndarray:
    """``sigmas`` binomial standard errors of a share ``p`` observed over ``n`` trials."""
    return sigmas * np.sqrt(p * (1 - p) / n) + 1e-12
