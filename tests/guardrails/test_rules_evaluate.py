"""Guardrail rules and their evaluation on constructed hourly data."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pytest
from scipy import stats

from services.exceptions import ValidationError
from services.experiments import Experiment, ExperimentType, Status
from services.guardrails.evaluate import (
    ActionKind,
    Rule,
    ServingHealth,
    evaluate,
    probability_ratio_below,
    wilson_lower,
)
from services.guardrails.rules import GuardrailRules, rule_errors
from services.parameters import BatchArm, ParameterBatch
from tests.foundation.factories import arms, experiment

END = datetime(2026, 11, 20, 12)
CODES = ("CTRL", "M-A", "M-B")


def running(*codes: str, **overrides) -> Experiment:
    return experiment(arms=arms(*codes), status=Status.RUNNING, **overrides)


def hours(rates: dict[str, list[tuple[int, float, float]]], end: datetime = END) -> list[dict]:
    """Rows ending at ``end``; per model a list (oldest first) of (impressions, ctr, order_rate)."""
    rows = []
    for code, series in rates.items():
        for i, (n, ctr, order_rate) in enumerate(series):
            hour = end - timedelta(hours=len(series) - i)
            rows.append(
                {
                    "experiment_id": "EXP-01",
                    "model_code": code,
                    "hour": hour,
                    "impressions": n,
                    "clicks": round(n * ctr),
                    "orders": round(n * order_rate),
                }
            )
    return rows


# --- rules ------------------------------------------------------------------------------------


def test_defaults_round_trip_and_old_documents_load_with_defaults() -> None:
    exp = running(*CODES)
    assert exp.guardrails == GuardrailRules()
    assert exp.guardrails.ctr_margin == 0.30 and exp.guardrails.ctr_probability == 0.99
    assert exp.guardrails.orders_margin == 0.20 and exp.guardrails.srm_batches == 3
    doc = exp.to_dict()
    old = {k: v for k, v in doc.items() if k not in ("guardrails", "disabled_models")}
    assert Experiment.from_dict(old) == exp
    custom = exp.with_changes(guardrails={"ctr_margin": 0.5}, disabled_models=["M-A"])
    again = Experiment.from_dict(custom.to_dict())
    assert again.guardrails.ctr_margin == 0.5 and again.disabled_models == ("M-A",)


def test_every_invalid_field_is_reported_at_once() -> None:
    errors = rule_errors(
        {"ctr_margin": 1.5, "ctr_probability": 0.3, "srm_batches": 0, "enabled": "yes"}
    )
    assert set(errors) == {"ctr_margin", "ctr_probability", "srm_batches", "enabled"}
    with pytest.raises(ValidationError) as exc:
        GuardrailRules(max_malformed_rate=0.0)
    assert exc.value.field == "guardrails.max_malformed_rate"
    with pytest.raises(ValidationError):
        GuardrailRules.from_dict({"nonsense": 1})


def test_disabled_models_are_validated() -> None:
    with pytest.raises(ValidationError, match="control"):
        running(*CODES, disabled_models=("CTRL",))
    with pytest.raises(ValidationError, match="not one of the arms"):
        running(*CODES, disabled_models=("X",))
    with pytest.raises(ValidationError, match="must stay on"):
        running("CTRL", "M-A", disabled_models=("M-A",))


# --- the probability ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a_m", "b_m", "a_c", "b_c", "ratio"),
    [
        (31, 970, 51, 950, 0.7),  # 3 % vs 5 %, 1000 impressions
        (2, 40, 3, 50, 0.7),  # tiny counts
        (451, 9551, 501, 9501, 0.8),
        (11, 990, 501, 9501, 0.7),  # a collapsed model
    ],
)
def test_probability_matches_monte_carlo(a_m, b_m, a_c, b_c, ratio) -> None:
    rng = np.random.default_rng(7)
    n = 2_000_000
    mc = float(np.mean(rng.beta(a_m, b_m, n) < ratio * rng.beta(a_c, b_c, n)))
    exact = float(probability_ratio_below(a_m, b_m, a_c, b_c, ratio))
    assert exact == pytest.approx(mc, abs=5 * np.sqrt(mc * (1 - mc) / n) + 1e-4)


def test_probability_is_vectorised() -> None:
    a = np.array([[31, 51], [11, 500]])
    out = probability_ratio_below(a, 1000 - a, 51, 950, 0.7)
    assert out.shape == (2, 2)
    assert out[1, 0] > 0.99 > out[0, 1]


# --- CTR collapse -----------------------------------------------------------------------------


def test_a_collapsed_model_is_switched_off_and_the_others_are_not() -> None:
    exp = running(*CODES)
    rows = hours(
        {
            "CTRL": [(2000, 0.05, 0.005)] * 3,
            "M-A": [(2000, 0.01, 0.001)] * 3,
            "M-B": [(2000, 0.052, 0.005)] * 3,
        }
    )
    actions = evaluate(exp, rows, end=END)
    assert [(a.kind, a.rule, a.model_code) for a in actions] == [
        (ActionKind.SWITCH_OFF, Rule.CTR_COLLAPSE, "M-A")
    ]
    figures = actions[0].figures
    assert figures["model_ctr"] == pytest.approx(0.01)
    assert figures["probability"] > 0.99


def test_a_small_gap_or_too_few_impressions_does_nothing() -> None:
    exp = running(*CODES)
    # 20 % below the control (margin 30 %): no action however much data.
    rows = hours(
        {
            "CTRL": [(50000, 0.05, 0.005)] * 3,
            "M-A": [(50000, 0.04, 0.005)] * 3,
            "M-B": [(50000, 0.05, 0.005)] * 3,
        }
    )
    assert evaluate(exp, rows, end=END) == []
    # Collapsed but below the minimum impressions.
    rows = hours(
        {
            "CTRL": [(200, 0.05, 0.0)] * 3,
            "M-A": [(200, 0.0, 0.0)] * 3,
            "M-B": [(200, 0.05, 0.0)] * 3,
        }
    )
    assert evaluate(exp, rows, end=END) == []


def test_the_only_alternative_collapsing_pauses_the_experiment() -> None:
    exp = running("CTRL", "M-A")
    rows = hours({"CTRL": [(2000, 0.05, 0.005)] * 3, "M-A": [(2000, 0.01, 0.001)] * 3})
    (action,) = evaluate(exp, rows, end=END)
    assert (action.kind, action.model_code) == (ActionKind.PAUSE, "M-A")
    # The last alternative left on, the others already switched off: pause too.
    exp3 = running(*CODES, disabled_models=("M-B",))
    rows3 = rows + hours({"M-B": [(2000, 0.01, 0.0)] * 3})
    assert [a.kind for a in evaluate(exp3, rows3, end=END)] == [ActionKind.PAUSE]


def test_a_drop_is_caught_within_two_hourly_batches() -> None:
    exp = running(*CODES)
    healthy = {c: [(2500, 0.05, 0.005)] * 10 for c in CODES}
    caught = []
    for after in (1, 2):
        series = {c: list(v) for c, v in healthy.items()}
        series["M-A"] = series["M-A"] + [(2500, 0.01, 0.001)] * after
        series["CTRL"] = series["CTRL"] + [(2500, 0.05, 0.005)] * after
        series["M-B"] = series["M-B"] + [(2500, 0.05, 0.005)] * after
        actions = evaluate(exp, hours(series), end=END)
        caught.append([a.model_code for a in actions if a.kind is ActionKind.SWITCH_OFF])
    assert caught[-1] == ["M-A"]


# --- orders guard -----------------------------------------------------------------------------


def test_orders_falling_for_the_click_winner_switch_it_off() -> None:
    exp = running(*CODES)
    rows = hours(
        {
            "CTRL": [(1000, 0.050, 0.010)] * 24,
            "M-A": [(1000, 0.065, 0.004)] * 24,  # wins on clicks, loses on orders
            "M-B": [(1000, 0.050, 0.010)] * 24,
        }
    )
    (action,) = evaluate(exp, rows, end=END)
    assert (action.kind, action.rule, action.model_code) == (
        ActionKind.SWITCH_OFF,
        Rule.ORDERS_GUARD,
        "M-A",
    )
    assert action.figures["model_order_rate"] == pytest.approx(0.004)


# --- split integrity --------------------------------------------------------------------------


def _batch(i: int, mismatch: bool, unit: str | None = "draws") -> ParameterBatch:
    return ParameterBatch(
        experiment_id="EXP-01",
        batch_id=f"B-{i}",
        window_start=END - timedelta(hours=24),
        window_end=END - timedelta(hours=5 - i),
        arms=(BatchArm("CTRL", 1, 1, 0.5, 0.5), BatchArm("M-A", 1, 1, 0.5, 0.5)),
        warmup=False,
        srm={"mismatch": mismatch, "p_value": 1e-6 if mismatch else 0.4, "unit": unit},
    )


def test_three_srm_batches_in_a_row_pause_and_two_do_not() -> None:
    exp = running("CTRL", "M-A")
    two = [_batch(0, False), _batch(1, True), _batch(2, False), _batch(3, True), _batch(4, True)]
    assert evaluate(exp, [], two, end=END) == []
    three = [_batch(0, False), _batch(1, True), _batch(2, True), _batch(3, True)]
    (action,) = evaluate(exp, [], three, end=END)
    assert (action.kind, action.rule) == (ActionKind.PAUSE, Rule.SPLIT_INTEGRITY)
    assert action.figures["consecutive_batches"] == 3
    # A paused experiment is not paused again.
    assert evaluate(exp.with_changes(status=Status.PAUSED), [], three, end=END) == []


def test_only_checks_on_the_assignment_unit_count_toward_a_pause() -> None:
    # A hashed (static) test assigns members: mismatches counted on impressions are no evidence
    # (returning members skew impressions), three on members are.
    static = running("CTRL", "M-A").with_changes(type=ExperimentType.STATIC)
    on_impressions = [_batch(i, True, unit=None) for i in range(3)]
    assert evaluate(static, [], on_impressions, end=END) == []
    on_members = [_batch(i, True, unit="members") for i in range(3)]
    (action,) = evaluate(static, [], on_members, end=END)
    assert (action.kind, action.rule) == (ActionKind.PAUSE, Rule.SPLIT_INTEGRITY)
    # A draw-mode dynamic test draws per selector call: checks on its draws count; on members,
    # or on impressions (which the answer cache clusters), they do not.
    dynamic = running("CTRL", "M-A")
    (action,) = evaluate(dynamic, [], [_batch(i, True) for i in range(3)], end=END)
    assert action.rule is Rule.SPLIT_INTEGRITY
    assert evaluate(dynamic, [], on_members, end=END) == []
    clustered = [_batch(i, True, unit="impressions") for i in range(3)]
    assert evaluate(dynamic, [], clustered, end=END) == []
    # A check that does not state its unit is not evidence for either.
    assert evaluate(dynamic, [], on_impressions, end=END) == []


# --- data quality -----------------------------------------------------------------------------


def test_rates_not_counts_decide_the_hold() -> None:
    exp = running("CTRL", "M-A")
    rows = hours({"CTRL": [(20000, 0.05, 0.005)], "M-A": [(20000, 0.05, 0.005)]})
    # 107 duplicates on ~42 000 events: 0.25 %, no hold.
    assert evaluate(exp, rows, end=END, data_quality={"duplicate_events": 107}) == []
    # 20 % malformed lines: held, and the model rules are skipped.
    events = 42_200
    counts = {"malformed_lines": events // 4, "events": events}
    (action,) = evaluate(exp, rows, end=END, data_quality=counts)
    assert (action.kind, action.rule) == (ActionKind.HOLD_BATCH, Rule.DATA_QUALITY)
    assert action.figures["malformed_rate"] == pytest.approx(0.2)
    # Orphans are judged against clicks.
    (orphans,) = evaluate(exp, rows, end=END, data_quality={"orphan_clicks": 300})
    assert orphans.figures["orphan_rate"] == pytest.approx(300 / 2300)


def test_a_small_base_cannot_trip_a_rate_by_chance() -> None:
    exp = running("CTRL", "M-A")
    # 1 200 events and 54 clicks in a quiet hour: 3 orphans are 5.3 % of the clicks, above the
    # 5 % limit, but its 99.9 % lower bound is ~1 %: no hold.
    counts = {"orphan_clicks": 3, "clicks": 54, "events": 1200, "lines": 1200}
    assert evaluate(exp, [], end=END, data_quality=counts) == []
    assert wilson_lower(3, 57) < 0.05 < 3 / 57
    # 60 orphans beside 600 clicks (9.1 %) are clearly over the limit.
    counts = {"orphan_clicks": 60, "clicks": 600, "events": 12_000, "lines": 12_000}
    (action,) = evaluate(exp, [], end=END, data_quality=counts)
    assert action.figures["orphan_rate"] == pytest.approx(60 / 660)
    low = action.figures["orphan_rate_lower_bound"]
    assert 0.05 < low < 60 / 660
    # The bound agrees with SciPy's Wilson interval at the same (two-sided 99.8 %) level.
    ci = stats.binomtest(60, 660).proportion_ci(confidence_level=0.998, method="wilson")
    assert low == pytest.approx(ci.low, rel=1e-6)


def test_a_held_batch_skips_the_model_rules() -> None:
    exp = running(*CODES)
    rows = hours(
        {
            "CTRL": [(2000, 0.05, 0.005)] * 3,
            "M-A": [(2000, 0.01, 0.001)] * 3,
            "M-B": [(2000, 0.05, 0.005)] * 3,
        }
    )
    actions = evaluate(exp, rows, end=END, data_quality={"malformed_lines": 5000})
    assert [a.kind for a in actions] == [ActionKind.HOLD_BATCH]


# --- serving health ---------------------------------------------------------------------------


def test_serving_health_only_alerts() -> None:
    exp = running("CTRL", "M-A")
    ok = ServingHealth(requests=10_000, fallbacks=100, errors_5xx=10)
    assert evaluate(exp, [], end=END, serving=ok) == []
    bad = ServingHealth(requests=10_000, fallbacks=900, errors_5xx=300)
    actions = evaluate(exp, [], end=END, serving=bad)
    # One alert carrying both shares (an open incident would count a second one as a repeat).
    (alert,) = actions
    assert alert.kind is ActionKind.ALERT and alert.model_code is None
    assert alert.figures["fallback_share"] == pytest.approx(0.09)
    assert alert.figures["5xx_share"] == pytest.approx(0.03)
    only_5xx = ServingHealth(requests=10_000, fallbacks=100, errors_5xx=300)
    (alert,) = evaluate(exp, [], end=END, serving=only_5xx)
    assert "max_5xx_share" in alert.figures and "max_fallback_share" not in alert.figures


def test_rules_off_or_a_draft_do_nothing() -> None:
    rows = hours({"CTRL": [(2000, 0.05, 0.005)] * 3, "M-A": [(2000, 0.0, 0.0)] * 3})
    off = running("CTRL", "M-A", guardrails={"enabled": False})
    assert evaluate(off, rows, end=END) == []
    draft = experiment(arms=arms("CTRL", "M-A"))
    assert evaluate(draft, rows, end=END) == []
