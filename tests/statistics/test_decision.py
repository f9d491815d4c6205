"""The decision rule on constructed histories, its validation, and the hours to a decision."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from services.exceptions import ValidationError
from services.statistics.decision import (
    BatchResult,
    DecisionRule,
    DecisionStatus,
    decision_status,
    hours_to_decision,
)

RULE = DecisionRule(min_p_best=0.95, max_loss_fraction=0.01, consecutive_batches=3)
CODES = ("A", "B")


def batch(i: int, p_a: float, loss: tuple[float, float] = (1e-5, 1e-3), **kw) -> BatchResult:
    values = {
        "batch_id": f"b{i:02d}",
        "warmup": False,
        "model_codes": CODES,
        "p_best": (p_a, 1.0 - p_a),
        "expected_loss": loss,
        "control_ctr": 0.06,  # threshold: 1 % of it = 0.0006
    }
    values.update(kw)
    return BatchResult(**values)


def test_no_history_is_collecting() -> None:
    d = decision_status([], RULE)
    assert d.status is DecisionStatus.COLLECTING and d.leader is None
    assert "collecting" in d.label


def test_warmup_batches_are_collecting_even_with_a_clear_leader() -> None:
    history = [batch(i, 0.999, warmup=True) for i in range(5)]
    assert decision_status(history, RULE).status is DecisionStatus.COLLECTING


def test_a_batch_without_data_for_every_arm_is_collecting() -> None:
    assert decision_status([batch(0, 0.99, has_data=False)], RULE).status.value == "collecting"


def test_leader_below_the_rule_says_not_decided() -> None:
    d = decision_status([batch(0, 0.53), batch(1, 0.53)], RULE)
    assert d.status is DecisionStatus.LEADER
    assert d.leader == "A" and d.p_best == pytest.approx(0.53)
    assert d.label == "leading: A (P(best) 53%, not decided)"
    assert "winner" not in d.label


def test_winner_after_the_required_consecutive_batches_since_that_batch() -> None:
    history = [batch(0, 0.5, warmup=True), batch(1, 0.96), batch(2, 0.97)]
    assert decision_status(history, RULE).status is DecisionStatus.LEADER  # 2 of 3
    history.append(batch(3, 0.98))
    d = decision_status(history, RULE)
    assert d.status is DecisionStatus.WINNER
    assert d.leader == "A" and d.since_batch == "b03" and d.streak == 3
    assert d.label.startswith("winner: A")


def test_a_dip_resets_the_streak() -> None:
    history = [batch(1, 0.96), batch(2, 0.97), batch(3, 0.90), batch(4, 0.96), batch(5, 0.97)]
    assert decision_status(history, RULE).status is DecisionStatus.LEADER
    d = decision_status([*history, batch(6, 0.99)], RULE)
    assert d.status is DecisionStatus.WINNER and d.since_batch == "b06"


def test_a_change_of_leader_resets_the_streak() -> None:
    history = [batch(1, 0.97), batch(2, 0.97), batch(3, 0.03, loss=(1e-3, 1e-5))]
    d = decision_status(history, RULE)
    assert d.status is DecisionStatus.LEADER and d.leader == "B" and d.streak == 1


def test_expected_loss_above_threshold_blocks_the_winner() -> None:
    # P(best) is high but choosing A still risks 0.1 pp > 1 % of 6 %.
    history = [batch(i, 0.97, loss=(1e-3, 5e-3)) for i in range(5)]
    assert decision_status(history, RULE).status is DecisionStatus.LEADER


def test_no_difference_when_every_loss_is_below_threshold() -> None:
    history = [batch(i, 0.6, loss=(2e-4, 3e-4)) for i in range(3)]
    d = decision_status(history, RULE)
    assert d.status is DecisionStatus.NO_DIFFERENCE and d.since_batch == "b02"
    assert "no difference" in d.label


def test_a_decision_stays_once_reached() -> None:
    history = [batch(i, 0.99) for i in range(3)] + [batch(3, 0.6), batch(4, 0.4)]
    d = decision_status(history, RULE)
    assert d.status is DecisionStatus.WINNER and d.leader == "A" and d.since_batch == "b02"


def test_history_with_other_models_is_refused() -> None:
    with pytest.raises(ValidationError):
        decision_status([batch(0, 0.5), batch(1, 0.5, model_codes=("A", "C"))], RULE)


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"min_p_best": 0.5}, "decision_rule.min_p_best"),
        ({"min_p_best": 1.0}, "decision_rule.min_p_best"),
        ({"min_p_best": "high"}, "decision_rule.min_p_best"),
        ({"max_loss_fraction": 0.0}, "decision_rule.max_loss_fraction"),
        ({"max_loss_fraction": math.nan}, "decision_rule.max_loss_fraction"),
        ({"consecutive_batches": 0}, "decision_rule.consecutive_batches"),
        ({"consecutive_batches": 2.5}, "decision_rule.consecutive_batches"),
        ({"consecutive_batches": True}, "decision_rule.consecutive_batches"),
    ],
)
def test_rule_validation(settings: dict, field: str) -> None:
    with pytest.raises(ValidationError) as err:
        DecisionRule(**settings)
    assert err.value.field == field


def test_rule_from_stored_documents() -> None:
    assert DecisionRule.from_dict(None) == DecisionRule()
    assert DecisionRule.from_dict({"min_p_best": 0.99}).consecutive_batches == 18
    assert DecisionRule.from_dict(RULE.to_dict()) == RULE
    with pytest.raises(ValidationError):
        DecisionRule.from_dict({"threshold": 0.9})


def _rule_met(p, n, control: float, rule: DecisionRule) -> bool:
    sd = math.sqrt(sum(pk * (1 - pk) / nk for pk, nk in zip(p, n, strict=True)))
    d = p[0] - p[1]
    # Expected loss of A when p_B - p_A ~ N(-d, sd²), by quadrature (independent of the code).
    x = np.linspace(0, d + 12 * sd, 200_001)
    loss = np.trapezoid(x * stats.norm.pdf(x, -d, sd), x)
    return stats.norm.cdf(d / sd) >= rule.min_p_best and loss <= rule.max_loss_fraction * control


def test_hours_to_decision_against_a_brute_force_scan() -> None:
    rule = DecisionRule(0.95, 0.01, 3)
    p, n0, rate = (0.067, 0.058), (2000.0, 1500.0), (900.0, 600.0)
    hours = hours_to_decision(p, n0, rate, 0.058, rule)
    # scan hour by hour with the rule evaluated independently
    first = next(
        t
        for t in range(0, 2000)
        if _rule_met(p, [n + r * t for n, r in zip(n0, rate, strict=True)], 0.058, rule)
    )
    assert hours == pytest.approx(first + 2, abs=1)


def test_hours_to_decision_none_without_difference_or_when_the_window_caps_the_counts() -> None:
    rule = DecisionRule()
    assert hours_to_decision((0.06, 0.06), (1e4, 1e4), (750, 750), 0.06, rule) is None
    # a 1-hour window cannot gather enough evidence for a 0.1 pp difference
    assert (
        hours_to_decision((0.061, 0.060), (100, 100), (100, 100), 0.06, rule, window_hours=1)
        is None
    )
    # already met: only the remaining consecutive batches
    met = hours_to_decision((0.08, 0.05), (1e6, 1e6), (1, 1), 0.05, rule)
    assert met == rule.consecutive_batches - 1
