"""Hour-stratified CTR estimates: what a model's CTR is once the daily cycle is taken out.

In a bandit test the traffic mix moves by design: the leading model gets more of the evening's
clicky traffic on one day and more of the night's on another. Pooling all hours
(``clicks / impressions``) then weighs each hour by the arm's *own* traffic, so two identical
models get different pooled CTRs (Simpson's paradox). The stratified estimate weighs every hour
by its *total* traffic (all arms), the same weights for every arm:

    p̂_k = Σ_h W_h p̂_hk,    p̂_hk = c_hk / n_hk,    W_h = N_h / Σ_h' N_h'

over the hours ``h`` in which every arm was served (``N_h`` = the hour's impressions of all
arms), so that all arms are judged on the same hours.
Its sampling variance, with hours independent:

    Var(p̂_k) = Σ_h W_h² p_hk (1 - p_hk) / n_hk

estimated with the smoothed hourly rate ``p̃_hk = (c_hk + 0.5) / (n_hk + 1)`` so that an hour
with no click does not claim zero variance. The *effective sample size* is
``n_eff = p̃_k (1 - p̃_k) / Var(p̂_k)`` (with ``p̃_k = Σ W_h p̃_hk``): the number of independent
impressions that would give the same precision. When an arm's share is constant over the hours
and its CTR flat, ``n_eff`` equals its impressions exactly, so a static test loses nothing.

The moment-matched posterior is the bandit's own form, ``Beta(1 + α, 1 + β)`` with
``α = p̂ n_eff`` and ``β = (1 - p̂) n_eff``: the pooled counts (``α`` = clicks, ``β`` =
non-clicks) are the special case of one hour. P(best), expected loss and credible intervals are
then the existing exact functions applied to these Beta parameters. See docs/statistics.md.

Pure functions: hourly-metric dicts (keys ``experiment_id``, ``model_code``, ``hour``,
``impressions``, ``clicks``) or :class:`~services.hourly_metrics.HourlyMetric` objects in,
frozen value objects out.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from scipy import stats

from services.exceptions import ValidationError
from services.statistics._validation import check_probability
from services.statistics.posterior import BetaPosterior
from services.statistics.probability_best import expected_loss, probability_best


@dataclass(frozen=True)
class ArmEstimate:
    """One model's CTR over a set of hours, pooled and stratified.

    Attributes:
        model_code: The model.
        impressions: Impressions over the hours.
        clicks: Clicks over the hours.
        pooled_ctr: ``clicks / impressions`` (0 without impressions).
        ctr: The stratified CTR ``Σ W_h p̂_h`` (0 without impressions).
        variance: Its sampling variance ``Σ W_h² p̃_h (1 - p̃_h) / n_h``.
        effective_impressions: ``n_eff``; equals ``impressions`` for a flat share and CTR.
        alpha: Moment-matched pseudo-clicks ``ctr × n_eff``.
        beta: Moment-matched pseudo-non-clicks ``(1 - ctr) × n_eff``.
        hours: Hours with at least one impression of this model.
    """

    model_code: str
    impressions: int
    clicks: int
    pooled_ctr: float
    ctr: float
    variance: float
    effective_impressions: float
    alpha: float
    beta: float
    hours: int

    @property
    def posterior(self) -> BetaPosterior:
        """``Beta(1 + α, 1 + β)``: the stratified estimate in the bandit's posterior form."""
        return BetaPosterior(1.0 + self.alpha, 1.0 + self.beta)

    @property
    def pooled_posterior(self) -> BetaPosterior:
        """``Beta(1 + clicks, 1 + non-clicks)``: the pooled posterior, for comparison."""
        return BetaPosterior(1.0 + self.clicks, 1.0 + self.impressions - self.clicks)

    def interval(self, level: float = 0.95) -> tuple[float, float]:
        """Equal-tailed credible interval of the stratified CTR (moment-matched Beta)."""
        return self.posterior.credible_interval(level)

    def pooled_interval(self, level: float = 0.95) -> tuple[float, float]:
        """Equal-tailed credible interval of the pooled CTR."""
        return self.pooled_posterior.credible_interval(level)


@dataclass(frozen=True)
class StratifiedLift:
    """Treatment minus control on the stratified estimates, with normal intervals.

    ``absolute = p̂_t - p̂_c`` with variance ``V_t + V_c`` (independent arms); the relative lift
    ``p̂_t / p̂_c - 1`` has the delta-method variance ``V_t / p̂_c² + p̂_t² V_c / p̂_c⁴``.
    """

    absolute: float
    absolute_low: float
    absolute_high: float
    relative: float
    relative_low: float
    relative_high: float
    level: float


@dataclass(frozen=True)
class Standing:
    """Every model's estimates and who is winning, on one estimator (pooled or stratified).

    Attributes:
        arms: Per model, in the order asked for.
        control: The control's model code.
        p_best: P(model is best) per arm, from the stratified (or pooled) Beta.
        expected_loss: ``E[max_i p_i - p_k]`` per arm, in CTR units.
        pooled_p_best: P(best) from the pooled counts, shown beside (labelled pooled).
        pooled_expected_loss: Expected loss from the pooled counts.
        lifts: Stratified lift over the control per model (None for the control itself).
    """

    arms: tuple[ArmEstimate, ...]
    control: str
    p_best: tuple[float, ...]
    expected_loss: tuple[float, ...]
    pooled_p_best: tuple[float, ...]
    pooled_expected_loss: tuple[float, ...]
    lifts: tuple[StratifiedLift | None, ...]

    @property
    def control_estimate(self) -> ArmEstimate:
        return next(a for a in self.arms if a.model_code == self.control)

    def arm(self, model_code: str) -> ArmEstimate:
        return next(a for a in self.arms if a.model_code == model_code)


def _field(row: Any, name: str) -> Any:
    if isinstance(row, Mapping):
        if name not in row:
            raise ValidationError(name, f"missing from an hourly metric: {dict(row)!r}")
        return row[name]
    return getattr(row, name)


def _count(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
        raise ValidationError(name, f"must be a non-negative whole number, got {value!r}")
    return int(value)


def hourly_table(
    rows: Iterable[Mapping[str, Any] | Any],
    model_codes: Sequence[str],
    *,
    experiment_id: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> tuple[list[datetime], np.ndarray, np.ndarray]:
    """Impressions and clicks as (hours × models) arrays, hours sorted.

    Rows of other experiments (when ``experiment_id`` is given), of models not in
    ``model_codes`` and outside ``start <= hour < end`` are left out; several rows of the same
    (model, hour) are added up.
    """
    index = {code: i for i, code in enumerate(model_codes)}
    if len(index) != len(model_codes) or not model_codes:
        raise ValidationError("model_codes", "need at least one model, each once")
    cells: dict[datetime, list[list[int]]] = {}
    for row in rows:
        if experiment_id is not None and _field(row, "experiment_id") != experiment_id:
            continue
        i = index.get(_field(row, "model_code"))
        if i is None:
            continue
        hour = _field(row, "hour")
        if not isinstance(hour, datetime):
            raise ValidationError("hour", f"must be a datetime, got {hour!r}")
        if (start is not None and hour < start) or (end is not None and hour >= end):
            continue
        n = _count("impressions", _field(row, "impressions"))
        c = _count("clicks", _field(row, "clicks"))
        if c > n:
            raise ValidationError("clicks", f"{c} clicks exceed {n} impressions at {hour}")
        cell = cells.setdefault(hour, [[0] * len(index), [0] * len(index)])
        cell[0][i] += n
        cell[1][i] += c
    hours = sorted(cells)
    k = len(index)
    imps = np.array([cells[h][0] for h in hours], dtype=np.int64).reshape(len(hours), k)
    clicks = np.array([cells[h][1] for h in hours], dtype=np.int64).reshape(len(hours), k)
    return hours, imps, clicks


def hourly_terms(impressions: np.ndarray, clicks: np.ndarray) -> np.ndarray:
    """Each hour's additive contribution to the stratified sums, vectorised.

    Returns an array of shape (2, 4, ..., H, K): for support ``[0]`` = hours in which every arm
    was served and ``[1]`` = hours in which this arm was served, the terms ``N_h``,
    ``N_h p̂_hk``, ``N_h² p̃_hk (1 - p̃_hk) / n_hk`` and ``N_h p̃_hk``. Summed over any set of
    hours they give :func:`moments_from_sums` everything it needs, so a simulator can keep
    running sums instead of re-reading all hours at every batch.
    """
    n = np.asarray(impressions, dtype=float)
    c = np.asarray(clicks, dtype=float)
    served = n > 0
    common = np.broadcast_to(served.all(axis=-1, keepdims=True), n.shape)
    total = n.sum(axis=-1, keepdims=True)  # N_h: the hour's traffic, all arms
    safe_n = np.where(served, n, 1.0)
    rate = c / safe_n
    smooth = (c + 0.5) / (safe_n + 1.0)
    terms = np.stack(
        [
            np.broadcast_to(total, n.shape),
            total * rate,
            total * total * smooth * (1.0 - smooth) / safe_n,
            total * smooth,
        ]
    )
    return np.stack([np.where(common, terms, 0.0), np.where(served, terms, 0.0)])


def moments_from_sums(sums: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(ctr, variance, n_eff)`` from :func:`hourly_terms` summed over the hours, (..., K).

    Arms are compared on the hours in which every arm was served, so that an arm missing from
    the evening peak is not judged on quieter hours than the others; only when there is no such
    hour (an arm never served together with the others) does each arm use its own hours. An arm
    without impressions gets ctr 0, variance +inf and n_eff 0.
    """
    has_common = (sums[0, 0] > 0).all(axis=-1, keepdims=True)
    chosen = np.where(has_common, sums[0], sums[1])
    weight, clicked, var_num, smooth_num = chosen
    has = weight > 0
    safe = np.where(has, weight, 1.0)
    ctr = np.where(has, clicked / safe, 0.0)
    variance = np.where(has, var_num / (safe * safe), np.inf)
    smooth_ctr = smooth_num / safe
    safe_var = np.where(has & (variance > 0), variance, 1.0)
    n_eff = np.where(has, smooth_ctr * (1.0 - smooth_ctr) / safe_var, 0.0)
    return ctr, variance, n_eff


def stratified_moments(impressions: np.ndarray, clicks: np.ndarray) -> tuple[np.ndarray, ...]:
    """Stratified CTR, its variance and effective sample size, vectorised.

    Args:
        impressions: Counts ``n``, shape (..., H, K): any leading axes (seeds), then hours, arms.
        clicks: Clicks, same shape.

    Returns:
        ``(ctr, variance, n_eff)``, each of shape (..., K); see :func:`moments_from_sums`.
    """
    return moments_from_sums(hourly_terms(impressions, clicks).sum(axis=-2))


def estimate_arms(
    rows: Iterable[Mapping[str, Any] | Any],
    model_codes: Sequence[str],
    *,
    experiment_id: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> tuple[ArmEstimate, ...]:
    """Pooled and stratified estimates of every model over ``start <= hour < end``."""
    _, imps, clicks = hourly_table(
        rows, model_codes, experiment_id=experiment_id, start=start, end=end
    )
    ctr, variance, n_eff = stratified_moments(imps, clicks)
    out = []
    for i, code in enumerate(model_codes):
        n = int(imps[:, i].sum())
        c = int(clicks[:, i].sum())
        out.append(
            ArmEstimate(
                model_code=code,
                impressions=n,
                clicks=c,
                pooled_ctr=c / n if n else 0.0,
                ctr=float(ctr[i]),
                variance=float(variance[i]),
                effective_impressions=float(n_eff[i]),
                alpha=float(ctr[i] * n_eff[i]),
                beta=float((1.0 - ctr[i]) * n_eff[i]),
                hours=int((imps[:, i] > 0).sum()),
            )
        )
    return tuple(out)


def bandit_parameters(
    rows: Iterable[Mapping[str, Any] | Any],
    model_codes: Sequence[str],
    *,
    experiment_id: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> dict[str, tuple[float, float]]:
    """The bandit's ``(alpha, beta)`` per model from the stratified estimate (moment-matched).

    ``Beta(1 + alpha, 1 + beta)`` has (up to the prior's pseudo-counts) the stratified CTR as its
    mean and its sampling variance as its variance; ``alpha + beta = n_eff``, which equals the
    model's impressions when its share and CTR were flat. A model with no impressions gets
    ``(0.0, 0.0)``, as with pooled counts. Values are floats; a store of whole counts rounds them.

    Args:
        rows: Hourly-metric dicts (``experiment_id``, ``model_code``, ``hour``, ``impressions``,
            ``clicks``) or ``HourlyMetric`` objects.
        model_codes: The experiment's models; rows of other models are ignored.
        experiment_id: Keep only this experiment's rows (None: all rows).
        start: First hour of the evaluation window, inclusive (None: no bound).
        end: End of the window, exclusive (None: no bound).

    Returns:
        ``{model_code: (alpha, beta)}`` in ``model_codes`` order.
    """
    arms = estimate_arms(rows, model_codes, experiment_id=experiment_id, start=start, end=end)
    return {a.model_code: (a.alpha, a.beta) for a in arms}


def hajek_ctr(rows: Iterable[Mapping[str, Any]], model_code: str) -> float | None:
    """Hajek (self-normalised inverse-propensity) CTR of one model: ``Σ ipw_clicks / Σ ipw_weight``.

    Needs the job's ``ipw_weight`` / ``ipw_clicks`` fields; rows without them are skipped.
    Returns None when no row of the model carries a propensity.
    """
    weight = clicks = 0.0
    for row in rows:
        if row.get("model_code") != model_code or row.get("ipw_weight") is None:
            continue
        weight += float(row["ipw_weight"])
        clicks += float(row.get("ipw_clicks") or 0.0)
    return clicks / weight if weight > 0 else None


def stratified_lift(
    control: ArmEstimate, treatment: ArmEstimate, level: float = 0.95
) -> StratifiedLift:
    """Lift of ``treatment`` over ``control`` with normal (delta-method) intervals."""
    level = check_probability("level", level)
    z = float(stats.norm.ppf(0.5 + level / 2.0))
    diff = treatment.ctr - control.ctr
    sd = math.sqrt(treatment.variance + control.variance)
    if control.ctr > 0 and math.isfinite(sd):
        rel = treatment.ctr / control.ctr - 1.0
        rel_sd = math.sqrt(
            treatment.variance / control.ctr**2
            + treatment.ctr**2 * control.variance / control.ctr**4
        )
    else:
        rel, rel_sd = math.nan, math.nan
    return StratifiedLift(
        absolute=diff,
        absolute_low=diff - z * sd,
        absolute_high=diff + z * sd,
        relative=rel,
        relative_low=rel - z * rel_sd,
        relative_high=rel + z * rel_sd,
        level=level,
    )


def standing(arms: Sequence[ArmEstimate], control: str) -> Standing:
    """P(best), expected loss and lift over ``control`` from the stratified Beta of each arm.

    The pooled P(best) and expected loss are computed too, to be shown beside, labelled.
    """
    codes = [a.model_code for a in arms]
    if control not in codes:
        raise ValidationError("control", f"{control!r} is not one of {codes}")
    a = [1.0 + arm.alpha for arm in arms]
    b = [1.0 + arm.beta for arm in arms]
    pa = [1.0 + arm.clicks for arm in arms]
    pb = [1.0 + arm.impressions - arm.clicks for arm in arms]
    ctrl = arms[codes.index(control)]
    return Standing(
        arms=tuple(arms),
        control=control,
        p_best=tuple(float(x) for x in probability_best(a, b)),
        expected_loss=tuple(float(x) for x in expected_loss(a, b)),
        pooled_p_best=tuple(float(x) for x in probability_best(pa, pb)),
        pooled_expected_loss=tuple(float(x) for x in expected_loss(pa, pb)),
        lifts=tuple(
            None if arm.model_code == control else stratified_lift(ctrl, arm) for arm in arms
        ),
    )
