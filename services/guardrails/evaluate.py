"""Judge one experiment's latest batch against its guardrails: figures in, actions out.

:func:`evaluate` is pure: the experiment, its hourly metrics, its batch history, the batch's
data-quality counts and the serving figures come in; a list of :class:`GuardrailAction` goes out.
Applying them (the experiment's ``disabled_models``, a pause, a held batch, incidents, audit
entries, notifications) is the repository's and the job's business (see
:mod:`services.guardrails.apply`).

The CTR and orders rules compare each model with the control on the hour-stratified estimates of
:mod:`services.statistics.stratified` (orders per impression are the second Beta metric, computed
from the same hourly rows with orders in place of clicks). The probability that a model's rate is
below ``(1 - margin)`` times the control's is

    P(p_k < r p_c) = ∫ f_c(y) F_k(r y) dy,   r = 1 - margin,

with ``f_c`` the control's moment-matched Beta density and ``F_k`` the model's Beta CDF, integrated
by Gauss-Legendre over the control's posterior range (:func:`probability_ratio_below`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import numpy as np
from scipy import special, stats

from services.experiments import Experiment, Status
from services.guardrails.rules import GuardrailRules
from services.ops.split_check import assignment_unit
from services.parameters import ParameterBatch
from services.statistics.stratified import ArmEstimate, estimate_arms

_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(96)
#: Half-width of the control's integration range, in posterior standard deviations.
_SPAN_SD = 12.0


class ActionKind(StrEnum):
    SWITCH_OFF = "switch_off"
    PAUSE = "pause"
    HOLD_BATCH = "hold_batch"
    ALERT = "alert"


class Rule(StrEnum):
    CTR_COLLAPSE = "ctr_collapse"
    ORDERS_GUARD = "orders_guard"
    SPLIT_INTEGRITY = "split_integrity"
    DATA_QUALITY = "data_quality"
    SERVING_HEALTH = "serving_health"


class Severity(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    WARNING = "warning"


#: What each action kind is worth on the Overview.
SEVERITY: dict[ActionKind, Severity] = {
    ActionKind.PAUSE: Severity.CRITICAL,
    ActionKind.SWITCH_OFF: Severity.HIGH,
    ActionKind.HOLD_BATCH: Severity.WARNING,
    ActionKind.ALERT: Severity.WARNING,
}


@dataclass(frozen=True)
class GuardrailAction:
    """One thing a guardrail wants done, with the figures that tripped it."""

    kind: ActionKind
    rule: Rule
    experiment_id: str
    area_code: str
    message: str
    model_code: str | None = None
    figures: dict[str, Any] = field(default_factory=dict)

    @property
    def severity(self) -> Severity:
        return SEVERITY[self.kind]


@dataclass(frozen=True)
class ServingHealth:
    """The selector's answers over the batch: how many, how many fell back, how many 5xx."""

    requests: int
    fallbacks: int = 0
    errors_5xx: int = 0


def probability_ratio_below(
    a_model: Any, b_model: Any, a_control: Any, b_control: Any, ratio: float
) -> np.ndarray:
    """``P(p_model < ratio × p_control)`` for independent ``Beta(a, b)`` posteriors, vectorised.

    Arguments broadcast against each other (any shape); ``ratio`` in (0, 1]. Gauss-Legendre over
    the control's mean ± 12 sd (clipped to [0, 1]), normalised by the density's own integral on
    the nodes so that truncation and clipping cost nothing.
    """
    a_m, b_m, a_c, b_c = np.broadcast_arrays(
        *(np.asarray(x, dtype=float) for x in (a_model, b_model, a_control, b_control))
    )
    mean = a_c / (a_c + b_c)
    sd = np.sqrt(a_c * b_c / ((a_c + b_c) ** 2 * (a_c + b_c + 1.0)))
    low = np.clip(mean - _SPAN_SD * sd, 0.0, 1.0)[..., None]
    high = np.clip(mean + _SPAN_SD * sd, 0.0, 1.0)[..., None]
    y = low + (high - low) * (_NODES + 1.0) / 2.0
    w = _WEIGHTS * (high - low) / 2.0
    density = stats.beta.pdf(y, a_c[..., None], b_c[..., None]) * w
    cdf = special.betainc(a_m[..., None], b_m[..., None], np.clip(ratio * y, 0.0, 1.0))
    return (density * cdf).sum(axis=-1) / density.sum(axis=-1)


def _window(rows: Sequence[Any], hours: int, end: datetime) -> list[Any]:
    start = end - timedelta(hours=hours)
    return [r for r in rows if start <= _get(r, "hour") < end]


def _get(row: Any, name: str) -> Any:
    return row[name] if isinstance(row, Mapping) else getattr(row, name)


def order_rows(rows: Iterable[Any]) -> list[dict[str, Any]]:
    """The rows with orders in the clicks' place (capped at impressions), for the Beta metric."""
    out = []
    for r in rows:
        n = int(_get(r, "impressions"))
        orders = _get(r, "orders") if isinstance(r, Mapping) and "orders" in r else None
        if orders is None and not isinstance(r, Mapping):
            orders = getattr(r, "orders", 0)
        out.append(
            {
                "experiment_id": _get(r, "experiment_id"),
                "model_code": _get(r, "model_code"),
                "hour": _get(r, "hour"),
                "impressions": n,
                "clicks": min(int(orders or 0), n),
            }
        )
    return out


def _rate_rule(
    experiment: Experiment,
    estimates: Sequence[ArmEstimate],
    *,
    rule: Rule,
    metric: str,
    margin: float,
    probability: float,
    min_impressions: int,
    window_hours: int,
) -> list[tuple[str, dict[str, Any]]]:
    """Models whose rate is below the control's by more than ``margin`` with ``probability``."""
    control_code = experiment.control_arm.model_code
    by_code = {e.model_code: e for e in estimates}
    control = by_code[control_code]
    tripped = []
    if control.impressions < min_impressions or control.ctr <= 0:
        return tripped
    for est in estimates:
        if est.model_code == control_code or est.model_code in experiment.disabled_models:
            continue
        if est.impressions < min_impressions:
            continue
        p = float(
            probability_ratio_below(
                1.0 + est.alpha, 1.0 + est.beta, 1.0 + control.alpha, 1.0 + control.beta, 1 - margin
            )
        )
        if p >= probability:
            tripped.append(
                (
                    est.model_code,
                    {
                        "metric": metric,
                        f"model_{metric}": est.ctr,
                        f"control_{metric}": control.ctr,
                        "model_impressions": est.impressions,
                        "control_impressions": control.impressions,
                        "probability": p,
                        "threshold_probability": probability,
                        "margin": margin,
                        "window_hours": window_hours,
                    },
                )
            )
    return tripped


def srm_streak(batches: Sequence[ParameterBatch], unit: str = "impressions") -> int:
    """How many of the latest batches in a row carry an SRM mismatch on the assignment ``unit``.

    Only a check that states its ``unit`` and counted the experiment's assignment unit is
    evidence: a hashed test's impressions legitimately drift from its split when members return
    unevenly, and a check without a unit (the job's older count of each hour's impressions
    against the batch assumed in force) misfires when the job lags behind the traffic.
    """
    streak = 0
    for batch in reversed(batches):
        srm = batch.srm or {}
        if not srm.get("mismatch") or srm.get("unit") != unit:
            break
        streak += 1
    return streak


#: One-sided 99.9 % normal quantile: a data-quality rate is over its limit only when the lower
#: end of its interval is, so that 3 orphans among 50 clicks in a quiet hour raise nothing.
Z_LOWER = 3.090232306167813


def _quality_counts(
    counts: Mapping[str, Any], *, events: int, clicks: int
) -> dict[str, tuple[int, int]]:
    """``name -> (problems, base)`` of the three data-quality rates (see below)."""
    malformed = int(counts.get("malformed_lines", 0) or 0)
    lines = int(counts.get("lines", events) or 0)
    orphans = int(counts.get("orphan_clicks", 0) or 0)
    duplicates = int(counts.get("duplicate_events", 0) or 0)
    return {
        "malformed_rate": (malformed, lines + malformed),
        "orphan_rate": (orphans, clicks + orphans),
        "duplicate_rate": (duplicates, events + duplicates),
    }


def data_quality_rates(
    counts: Mapping[str, Any], *, events: int, clicks: int
) -> dict[str, float | None]:
    """Malformed, orphan and duplicate rates of one batch, relative to its volume.

    * malformed: ``malformed_lines / (lines + malformed_lines)``, ``lines`` from the counts
      (the run's readable lines; malformed lines name no experiment) or ``events``;
    * orphan: ``orphan_clicks / (clicks + orphan_clicks)``;
    * duplicate: ``duplicate_events / (events + duplicate_events)``.

    A rate with a zero denominator is None.
    """
    return {
        name: (k / n if n > 0 else None)
        for name, (k, n) in _quality_counts(counts, events=events, clicks=clicks).items()
    }


def wilson_lower(k: int, n: int, z: float = Z_LOWER) -> float:
    """Lower end of the Wilson score interval of ``k / n`` (0 for ``n = 0``)."""
    if n <= 0:
        return 0.0
    p = k / n
    centre = p + z * z / (2 * n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, (centre - half) / (1 + z * z / n))


def data_quality_over(
    counts: Mapping[str, Any], *, events: int, clicks: int, rules: GuardrailRules
) -> dict[str, tuple[float, float, float]]:
    """``name -> (rate, lower bound, limit)`` of each rate clearly above its limit.

    Nothing is judged below ``rules.min_volume`` lines; above it a rate trips only when its
    99.9 % lower bound (Wilson) exceeds the limit, so small bases cannot raise false alarms.
    """
    limits = {
        "malformed_rate": rules.max_malformed_rate,
        "orphan_rate": rules.max_orphan_rate,
        "duplicate_rate": rules.max_duplicate_rate,
    }
    quality = _quality_counts(counts, events=events, clicks=clicks)
    if quality["malformed_rate"][1] < rules.min_volume:
        return {}
    out = {}
    for name, (k, n) in quality.items():
        low = wilson_lower(k, n)
        if n > 0 and low > limits[name]:
            out[name] = (k / n, low, limits[name])
    return out


def evaluate(
    experiment: Experiment,
    rows: Sequence[Mapping[str, Any] | Any],
    batches: Sequence[ParameterBatch] = (),
    *,
    end: datetime,
    data_quality: Mapping[str, Any] | None = None,
    serving: ServingHealth | None = None,
    rules: GuardrailRules | None = None,
) -> list[GuardrailAction]:
    """The guardrail actions for ``experiment`` at the end of the batch ending at ``end``.

    Args:
        experiment: The experiment (its ``guardrails``, control and ``disabled_models``).
        rows: Its hourly metrics (``model_code``, ``hour``, ``impressions``, ``clicks``,
            ``orders``), covering at least the longest window before ``end``.
        batches: Its parameter batches, oldest first, the current one last (for the SRM streak).
        end: End of the batch being judged (exclusive); windows end here.
        data_quality: The batch's counts (``malformed_lines``, ``orphan_clicks``,
            ``duplicate_events``, optionally ``events``, ``lines`` and ``clicks``). ``events``
            defaults to the impressions, clicks and orders of the batch's hours in ``rows``,
            ``clicks`` to their clicks.
        serving: The selector's figures over the batch, if known.
        rules: Overrides the experiment's own rules (the lab's sweeps).

    Returns:
        Actions, most severe first. None when the rules are off or the experiment is not active.
        A held batch skips the model rules (its figures are not trusted).
    """
    rules = rules or experiment.guardrails
    if not rules.enabled or experiment.status not in (Status.RUNNING, Status.PAUSED):
        return []
    rows = [r for r in rows if _get(r, "experiment_id") == experiment.experiment_id]
    act = _Actions(experiment)
    batch_rows = _window(rows, max(1, math.ceil(experiment.batch_interval_minutes / 60)), end)
    held = False
    if data_quality is not None:
        held = _check_data_quality(act, rules, data_quality, batch_rows)
    running = experiment.status is Status.RUNNING
    streak = srm_streak(batches, assignment_unit(experiment))
    if running and streak >= rules.srm_batches:
        last = batches[-1].srm or {}
        act.add(
            ActionKind.PAUSE,
            Rule.SPLIT_INTEGRITY,
            f"sample-ratio mismatch in {streak} consecutive batches",
            figures={
                "consecutive_batches": streak,
                "threshold_batches": rules.srm_batches,
                "p_value": last.get("p_value"),
                "unit": last.get("unit"),
            },
        )
    if running and not held:
        _check_models(act, rules, rows, end)
    if serving is not None and serving.requests > 0:
        _check_serving(act, rules, serving)
    order = list(ActionKind)
    return sorted(act.actions, key=lambda a: order.index(a.kind) if a.kind else 0)


class _Actions:
    def __init__(self, experiment: Experiment) -> None:
        self.experiment = experiment
        self.actions: list[GuardrailAction] = []

    def add(
        self,
        kind: ActionKind,
        rule: Rule,
        message: str,
        *,
        model_code: str | None = None,
        figures: dict[str, Any] | None = None,
    ) -> None:
        self.actions.append(
            GuardrailAction(
                kind=kind,
                rule=rule,
                experiment_id=self.experiment.experiment_id,
                area_code=self.experiment.area_code,
                message=message,
                model_code=model_code,
                figures=figures or {},
            )
        )


def _check_data_quality(
    act: _Actions, rules: GuardrailRules, counts: Mapping[str, Any], batch_rows: Sequence[Any]
) -> bool:
    # The job states the batch's clicks beside the counts; otherwise they come from its rows.
    clicks = counts.get("clicks")
    if clicks is None:
        clicks = sum(int(_get(r, "clicks")) for r in batch_rows)
    clicks = int(clicks)
    events = counts.get("events")
    if events is None:
        events = sum(
            int(_get(r, "impressions")) + int(_get(r, "clicks")) + int(_orders(r))
            for r in batch_rows
        )
    events = int(events)
    rates = data_quality_rates(counts, events=events, clicks=clicks)
    over = data_quality_over(counts, events=events, clicks=clicks, rules=rules)
    if not over:
        return False
    text = ", ".join(
        f"{k.replace('_', ' ')} {rate:.1%} (limit {limit:.1%})"
        for k, (rate, _low, limit) in over.items()
    )
    act.add(
        ActionKind.HOLD_BATCH,
        Rule.DATA_QUALITY,
        f"batch held, last good parameters kept: {text}",
        figures={
            **{k: v for k, v in rates.items() if v is not None},
            **{f"max_{k}": limit for k, (_rate, _low, limit) in over.items()},
            **{f"{k}_lower_bound": low for k, (_rate, low, _limit) in over.items()},
            "events": events,
            "counts": {k: counts[k] for k in sorted(counts)},
        },
    )
    return True


def _orders(row: Any) -> int:
    if isinstance(row, Mapping):
        return int(row.get("orders", 0) or 0)
    return int(getattr(row, "orders", 0) or 0)


def _check_models(act: _Actions, rules: GuardrailRules, rows: Sequence[Any], end: datetime) -> None:
    experiment = act.experiment
    codes = experiment.model_codes
    ctr = estimate_arms(_window(rows, rules.ctr_window_hours, end), codes)
    orders = estimate_arms(order_rows(_window(rows, rules.orders_window_hours, end)), codes)
    tripped: dict[str, tuple[Rule, dict[str, Any]]] = {}
    for code, figures in _rate_rule(
        experiment,
        ctr,
        rule=Rule.CTR_COLLAPSE,
        metric="ctr",
        margin=rules.ctr_margin,
        probability=rules.ctr_probability,
        min_impressions=rules.min_impressions,
        window_hours=rules.ctr_window_hours,
    ):
        tripped[code] = (Rule.CTR_COLLAPSE, figures)
    for code, figures in _rate_rule(
        experiment,
        orders,
        rule=Rule.ORDERS_GUARD,
        metric="order_rate",
        margin=rules.orders_margin,
        probability=rules.orders_probability,
        min_impressions=rules.orders_min_impressions,
        window_hours=rules.orders_window_hours,
    ):
        tripped.setdefault(code, (Rule.ORDERS_GUARD, figures))
    alternatives = [
        c
        for c in codes
        if c != experiment.control_arm.model_code and c not in experiment.disabled_models
    ]
    for code in codes:
        if code not in tripped:
            continue
        rule, figures = tripped[code]
        what = "CTR" if rule is Rule.CTR_COLLAPSE else "order rate"
        metric = figures["metric"]
        text = (
            f"{code}: {what} {figures[f'model_{metric}']:.3%} vs control "
            f"{figures[f'control_{metric}']:.3%}; P(more than {figures['margin']:.0%} below) = "
            f"{figures['probability']:.3f}"
        )
        alternatives.remove(code)
        if not alternatives:
            act.add(
                ActionKind.PAUSE,
                rule,
                f"experiment paused (serves the control), no alternative left: {text}",
                model_code=code,
                figures=figures,
            )
            return
        act.add(
            ActionKind.SWITCH_OFF,
            rule,
            f"model switched off: {text}",
            model_code=code,
            figures=figures,
        )


def _check_serving(act: _Actions, rules: GuardrailRules, serving: ServingHealth) -> None:
    shares = {
        "fallback_share": (serving.fallbacks / serving.requests, rules.max_fallback_share),
        "5xx_share": (serving.errors_5xx / serving.requests, rules.max_5xx_share),
    }
    over = {name: v for name, v in shares.items() if v[0] > v[1]}
    if not over:
        return
    # One alert for both shares: an open incident counts repeats per rule, so a second alert
    # of the same rule would only be a repeat of the first and its figures would be lost.
    text = ", ".join(
        f"{name.replace('_', ' ')} {share:.1%} (limit {limit:.1%})"
        for name, (share, limit) in over.items()
    )
    figures: dict[str, Any] = {"requests": serving.requests}
    for name, (share, limit) in shares.items():
        figures[name] = share
        if name in over:
            figures[f"max_{name}"] = limit
    act.add(
        ActionKind.ALERT,
        Rule.SERVING_HEALTH,
        f"{text} of {serving.requests} requests",
        figures=figures,
    )
