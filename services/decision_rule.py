"""The declared decision rule's settings: when a test may say "winner".

A configuration value of the experiment, kept apart from the statistics that apply it
(services/statistics/decision.py) so that the experiment model -- and with it the Lambda
selector, which ships without scipy -- imports no numerical library.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.exceptions import ValidationError


def _number(field: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValidationError(field, f"must be a finite number, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class DecisionRule:
    """When a test may declare a winner (validated at construction).

    Attributes:
        min_p_best: P(best) the leader needs, in (0.5, 1).
        max_loss_fraction: Largest expected loss accepted, as a fraction of the control's
            CTR, in (0, 1).
        consecutive_batches: Batches in a row (after warm-up) the rule must hold, 1 to 168.
    """

    min_p_best: float = 0.95
    max_loss_fraction: float = 0.01
    consecutive_batches: int = 18

    def __post_init__(self) -> None:
        p = _number("decision_rule.min_p_best", self.min_p_best)
        if not 0.5 < p < 1.0:
            raise ValidationError("decision_rule.min_p_best", f"must be in (0.5, 1), got {p}")
        object.__setattr__(self, "min_p_best", p)
        loss = _number("decision_rule.max_loss_fraction", self.max_loss_fraction)
        if not 0.0 < loss < 1.0:
            raise ValidationError(
                "decision_rule.max_loss_fraction", f"must be in (0, 1), got {loss}"
            )
        object.__setattr__(self, "max_loss_fraction", loss)
        n = self.consecutive_batches
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 168:
            raise ValidationError(
                "decision_rule.consecutive_batches", f"must be a whole number 1-168, got {n!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        return {
            "min_p_best": self.min_p_best,
            "max_loss_fraction": self.max_loss_fraction,
            "consecutive_batches": self.consecutive_batches,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> DecisionRule:
        """From a stored document; missing keys take the defaults (old documents have none)."""
        if data is None:
            return cls()
        if isinstance(data, DecisionRule):
            return data
        if not isinstance(data, Mapping):
            raise ValidationError("decision_rule", "must be an object")
        known = {"min_p_best", "max_loss_fraction", "consecutive_batches"}
        unknown = set(data) - known
        if unknown:
            raise ValidationError("decision_rule", f"unknown settings {sorted(unknown)}")
        return cls(**dict(data))
