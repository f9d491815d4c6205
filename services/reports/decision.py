"""The decision report: what an analyst pastes into a ticket, and what the Winners page shows.

Per model: impressions, clicks, pooled and hour-stratified CTR with 95 % intervals, lift over
the control, P(best) and expected loss (stratified; pooled beside, labelled), then the SRM check
and data quality of the latest parameter batch, and the decision status under the experiment's
declared rule with the estimated hours to a decision.

The decision replays the rule over every hour of the experiment's metrics (from its first hour
with traffic): at the end of each hour, the stratified estimates on all hours so far give one
:class:`BatchResult`; warm-up is the
parameter job's own flag for that batch when it recorded one, else the experiment's warm-up rule
(hours since the start and impressions per arm). Pure: metrics and batches in, a report out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from services.experiments import Experiment
from services.guardrails.evaluate import order_rows
from services.hourly_metrics import HourlyMetric
from services.parameters import ParameterBatch
from services.simulation.pbest import decision_grid
from services.statistics.decision import (
    BatchResult,
    Decision,
    decision_status,
    hours_to_decision,
)
from services.statistics.stratified import (
    ArmEstimate,
    Standing,
    estimate_arms,
    hourly_terms,
    moments_from_sums,
    standing,
)

LEVEL = 0.95


@dataclass(frozen=True)
class DecisionReport:
    """Everything the decision report shows, for one experiment at one moment."""

    experiment: Experiment
    start: datetime | None
    end: datetime | None
    standing: Standing | None
    decision: Decision
    hours_to_decision: float | None
    srm: dict[str, Any] | None
    data_quality: dict[str, int] | None
    latest_batch: str | None
    #: Orders per impression per model (stratified like the CTR), in ``standing.arms`` order.
    order_rates: tuple[ArmEstimate, ...] | None = None


def decision_history(
    experiment: Experiment,
    metrics: Sequence[HourlyMetric],
    batches: Sequence[ParameterBatch] = (),
) -> list[BatchResult]:
    """One stratified :class:`BatchResult` per hour since the start (oldest first)."""
    codes = experiment.model_codes
    rows = [m for m in metrics if m.model_code in codes]
    if not rows:
        return []
    start = min(m.hour for m in rows)
    last = max(m.hour for m in rows)
    hours = int((last - start) / timedelta(hours=1)) + 1
    if hours <= 0:
        return []
    index = {c: i for i, c in enumerate(codes)}
    imps = np.zeros((hours, len(codes)), dtype=np.int64)
    clicks = np.zeros_like(imps)
    for m in rows:
        h = int((m.hour - start) / timedelta(hours=1))
        if 0 <= h < hours:
            imps[h, index[m.model_code]] += m.impressions
            clicks[h, index[m.model_code]] += m.clicks
    warm_by_end = {b.window_end: b.warmup for b in batches}
    ctrl = codes.index(experiment.control_arm.model_code)
    # Every prefix of hours at once: running sums of the stratified terms, then the vectorised
    # grid integrals (accurate to ~1e-3, ample for a 0.95 threshold) over all batches together.
    ctr, _, n_eff = moments_from_sums(np.cumsum(hourly_terms(imps, clicks), axis=-2))
    served = np.cumsum(imps, axis=0)
    p_best, loss = decision_grid(1.0 + ctr * n_eff, 1.0 + (1.0 - ctr) * n_eff)
    out = []
    for h in range(hours):
        end = start + timedelta(hours=h + 1)
        warm = warm_by_end.get(end)
        if warm is None:
            warm = (h + 1) < experiment.warmup_hours or bool(
                (served[h] < experiment.warmup_min_impressions).any()
            )
        out.append(
            BatchResult(
                batch_id=f"{end:%Y%m%dT%H%M}",
                warmup=bool(warm),
                model_codes=codes,
                p_best=tuple(float(x) for x in p_best[h]),
                expected_loss=tuple(float(x) for x in loss[h]),
                control_ctr=float(ctr[h, ctrl]),
                has_data=bool((served[h] > 0).all()),
            )
        )
    return out


def build_report(
    experiment: Experiment,
    metrics: Sequence[HourlyMetric],
    batches: Sequence[ParameterBatch] = (),
    *,
    history: Sequence[BatchResult] | None = None,
) -> DecisionReport:
    """The decision report of ``experiment`` from its hourly metrics and parameter batches.

    ``history``: the rule's path (:func:`decision_history`) when already known, e.g. from the
    daily roll-ups (:func:`services.reports.rollups.decision_history_from_days`).
    """
    codes = experiment.model_codes
    rows = [m for m in metrics if m.model_code in codes]
    latest = max(batches, key=lambda b: b.window_end) if batches else None
    if history is None:
        history = decision_history(experiment, rows, batches)
    decision = decision_status(history, experiment.decision_rule)
    if not rows:
        return DecisionReport(experiment, None, None, None, decision, None, None, None, None)
    start = min(m.hour for m in rows)
    end = max(m.hour for m in rows) + timedelta(hours=1)
    arms = estimate_arms(rows, codes, start=start, end=end)
    orders = estimate_arms(order_rows(rows), codes, start=start, end=end)
    stand = standing(arms, experiment.control_arm.model_code)
    recent = [m for m in rows if m.hour >= end - timedelta(hours=24)]
    span = max(1, len({m.hour for m in recent}))
    rates = [sum(m.impressions for m in recent if m.model_code == c) / span for c in codes]
    eta = None
    if decision.status.value in ("leader", "collecting") and all(a.impressions for a in arms):
        eta = hours_to_decision(
            [a.ctr for a in arms],
            [a.effective_impressions for a in arms],
            rates,
            stand.control_estimate.ctr,
            experiment.decision_rule,
            batch_hours=experiment.batch_interval_minutes / 60.0,
        )
    return DecisionReport(
        experiment=experiment,
        start=start,
        end=end,
        standing=stand,
        decision=decision,
        hours_to_decision=eta,
        srm=dict(latest.srm) if latest is not None and latest.srm else None,
        data_quality=dict(latest.data_quality)
        if latest is not None and latest.data_quality
        else None,
        latest_batch=latest.batch_id if latest is not None else None,
        order_rates=orders,
    )


def _num(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def report_dict(report: DecisionReport) -> dict[str, Any]:
    """The report as plain JSON-ready data."""
    exp = report.experiment
    models = []
    if report.standing is not None:
        s = report.standing
        orders = report.order_rates or ()
        for i, arm in enumerate(s.arms):
            low, high = arm.interval(LEVEL)
            order = orders[i] if i < len(orders) else None
            plow, phigh = arm.pooled_interval(LEVEL)
            lift = s.lifts[i]
            models.append(
                {
                    "model_code": arm.model_code,
                    "control": arm.model_code == s.control,
                    "impressions": arm.impressions,
                    "clicks": arm.clicks,
                    "pooled_ctr": arm.pooled_ctr,
                    "pooled_ctr_interval": [plow, phigh],
                    "stratified_ctr": arm.ctr,
                    "stratified_ctr_interval": [low, high],
                    "effective_impressions": arm.effective_impressions,
                    "lift": None
                    if lift is None
                    else {
                        "absolute": lift.absolute,
                        "absolute_interval": [lift.absolute_low, lift.absolute_high],
                        "relative": _num(lift.relative),
                        "relative_interval": [_num(lift.relative_low), _num(lift.relative_high)],
                    },
                    "p_best": s.p_best[i],
                    "expected_loss": s.expected_loss[i],
                    "pooled_p_best": s.pooled_p_best[i],
                    "pooled_expected_loss": s.pooled_expected_loss[i],
                    "switched_off": arm.model_code in exp.disabled_models,
                    "orders": None if order is None else order.clicks,
                    "order_rate": None if order is None else order.ctr,
                    "order_rate_interval": None if order is None else list(order.interval(LEVEL)),
                }
            )
    srm = report.srm or {}
    d = report.decision
    return {
        "experiment_id": exp.experiment_id,
        "name": exp.name,
        "area_code": exp.area_code,
        "type": exp.type.value,
        "status": exp.status.value,
        "control": exp.control_arm.model_code,
        "evidence_start": report.start.isoformat() if report.start else None,
        "evidence_end": report.end.isoformat() if report.end else None,
        "interval_level": LEVEL,
        "models": models,
        "decision": {
            "status": d.status.value,
            "label": d.label,
            "model_code": d.leader,
            "p_best": d.p_best,
            "since_batch": d.since_batch,
            "streak": d.streak,
            "rule": d.rule.to_dict(),
            "estimated_hours_to_decision": report.hours_to_decision,
        },
        "srm": None
        if report.srm is None
        else {
            "unit": srm.get("unit", "impressions"),
            "p_value": srm.get("p_value"),
            "mismatch": srm.get("mismatch"),
            "batch_id": report.latest_batch,
        },
        "data_quality": report.data_quality,
    }


def _pct(value: float | None, digits: int = 2) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.{digits}%}"


def report_markdown(report: DecisionReport) -> str:
    """The report as Markdown, ready to paste into a ticket."""
    data = report_dict(report)
    d = data["decision"]
    lines = [
        f"# Decision report: {data['experiment_id']} ({data['name']})",
        "",
        f"Area {data['area_code']}, {data['type']} test, {data['status']}; "
        f"control {data['control']}. Evidence: {data['evidence_start'] or '-'} to "
        f"{data['evidence_end'] or '-'} UTC (all hours since the start).",
        "",
        f"**Decision: {d['label']}**",
        "",
        f"Rule: P(best) >= {d['rule']['min_p_best']:.0%} and expected loss <= "
        f"{d['rule']['max_loss_fraction']:.0%} of the control's CTR, held for "
        f"{d['rule']['consecutive_batches']} consecutive batches after warm-up.",
    ]
    if d["estimated_hours_to_decision"] is not None:
        lines.append(
            f"Estimated hours to a decision at the current traffic: "
            f"{d['estimated_hours_to_decision']:.0f}."
        )
    elif d["status"] in ("leader", "collecting"):
        lines.append("No decision is in sight at the current traffic and difference.")
    lines += [
        "",
        "| model | impressions | clicks | pooled CTR (95%) | stratified CTR (95%) | "
        "lift vs control (95%) | P(best) | expected loss | pooled P(best) | orders | "
        "order rate (95%) |",
        "| --- | ---: | ---: | --- | --- | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for m in data["models"]:
        name = f"{m['model_code']} (control)" if m["control"] else m["model_code"]
        if m["switched_off"]:
            name += " (switched off)"
        if m["order_rate"] is None:
            order_text = "- | -"
        else:
            ol, oh = m["order_rate_interval"]
            order_text = f"{m['orders']:,} | {_pct(m['order_rate'])} ({_pct(ol)}-{_pct(oh)})"
        pl, ph = m["pooled_ctr_interval"]
        sl, sh = m["stratified_ctr_interval"]
        lift = m["lift"]
        lift_text = (
            "-"
            if lift is None
            else f"{_pct(lift['relative'], 1)} ({_pct(lift['relative_interval'][0], 1)} to "
            f"{_pct(lift['relative_interval'][1], 1)})"
        )
        lines.append(
            f"| {name} | {m['impressions']:,} | {m['clicks']:,} | "
            f"{_pct(m['pooled_ctr'])} ({_pct(pl)}-{_pct(ph)}) | "
            f"{_pct(m['stratified_ctr'])} ({_pct(sl)}-{_pct(sh)}) | {lift_text} | "
            f"{_pct(m['p_best'], 1)} | {m['expected_loss'] * 100:.3f} pp | "
            f"{_pct(m['pooled_p_best'], 1)} | {order_text} |"
        )
    if not data["models"]:
        lines.append("| (no impressions yet) | | | | | | | | | | |")
    lines.append("")
    lines.append(
        "Stratified CTR: hourly CTRs weighted by each hour's total traffic; P(best), expected "
        "loss and the decision use it. Pooled figures (clicks / impressions) are shown for "
        "comparison only: a bandit's moving traffic mix biases them. Order rate: orders per "
        "impression, stratified the same way (the orders guard judges it)."
    )
    srm = data["srm"]
    lines.append("")
    if srm is None:
        lines.append("SRM: no check recorded yet.")
    else:
        verdict = "MISMATCH" if srm["mismatch"] else "ok"
        p = srm["p_value"]
        p_text = "-" if p is None else f"{p:.3g}"
        lines.append(f"SRM ({srm['unit']}, batch {srm['batch_id']}): p = {p_text}, {verdict}.")
    dq = data["data_quality"]
    if dq:
        lines.append(
            "Data quality (latest batch): " + ", ".join(f"{k} {v:,}" for k, v in sorted(dq.items()))
        )
    else:
        lines.append("Data quality: no figures recorded yet.")
    return "\n".join(lines) + "\n"


def decision_frame(report: DecisionReport) -> pd.DataFrame:
    """One row per model: stratified figures, the pooled ones beside them (labelled pooled)."""
    rows = []
    for m in report_dict(report)["models"]:
        lift = m["lift"] or {}
        rows.append(
            {
                "model": m["model_code"],
                "control": m["control"],
                "impressions": m["impressions"],
                "clicks": m["clicks"],
                "stratified ctr": m["stratified_ctr"],
                "stratified low": m["stratified_ctr_interval"][0],
                "stratified high": m["stratified_ctr_interval"][1],
                "pooled ctr": m["pooled_ctr"],
                "pooled low": m["pooled_ctr_interval"][0],
                "pooled high": m["pooled_ctr_interval"][1],
                "lift": lift.get("relative"),
                "lift low": (lift.get("relative_interval") or [None])[0],
                "lift high": (lift.get("relative_interval") or [None, None])[1],
                "p_best": m["p_best"],
                "expected_loss": m["expected_loss"],
                "pooled p_best": m["pooled_p_best"],
                "orders": m["orders"],
                "order rate": m["order_rate"],
                "order rate low": (m["order_rate_interval"] or [None])[0],
                "order rate high": (m["order_rate_interval"] or [None, None])[1],
            }
        )
    return pd.DataFrame(rows)


def decision_document(
    experiment: Experiment,
    metrics: Sequence[HourlyMetric],
    batches: Sequence[ParameterBatch] = (),
) -> dict[str, Any]:
    """The decision status as a document a parameter batch can record beside its ``srm``.

    Keys: ``status``, ``model_code`` (leader or declared model), ``p_best``, ``since_batch``,
    ``streak``, ``rule``, ``estimated_hours_to_decision``, ``label``.
    """
    return report_dict(build_report(experiment, metrics, batches))["decision"]
