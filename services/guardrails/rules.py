"""Guardrail rules: when a dynamic test stops hurting by itself (frozen, validated).

One :class:`GuardrailRules` per experiment, stored on it like the decision rule (old documents
load with the defaults). The rules and what each does when it trips:

* **CTR collapse** -- a model's stratified CTR below the control's by more than
  ``ctr_margin`` (relative, default 30 %) with posterior probability >= ``ctr_probability``
  (default 0.99), judged on the last ``ctr_window_hours`` hours once both models have
  ``min_impressions`` there: the model is switched off (weight 0, the rest renormalised) or,
  when it is the control or the only alternative left, the experiment is paused.
* **Orders guard** -- the same on orders per impression (margin 20 %, probability 0.95, over
  ``orders_window_hours``): switched off even if the model wins on clicks.
* **Split integrity** -- a sample-ratio mismatch in ``srm_batches`` consecutive batches: pause.
* **Data quality** -- malformed lines, orphan clicks or duplicate events above a *rate* of the
  batch's volume: the batch is held (the last good parameters keep serving).
* **Serving health** -- fallback answers or 5xx responses above a share of requests: alert only.

Nothing a guardrail does stops (ends) an experiment or deletes data; every action is reversible
by an operator.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from services.exceptions import ValidationError

#: field -> (kind, low, high, low inclusive, high inclusive); kind "rate" is a float, "int" whole.
_BOUNDS: dict[str, tuple[str, float, float, bool, bool]] = {
    "ctr_margin": ("rate", 0.0, 1.0, False, False),
    "ctr_probability": ("rate", 0.5, 1.0, False, False),
    "ctr_window_hours": ("int", 1, 24 * 14, True, True),
    "min_impressions": ("int", 0, 10**9, True, True),
    "orders_margin": ("rate", 0.0, 1.0, False, False),
    "orders_probability": ("rate", 0.5, 1.0, False, False),
    "orders_window_hours": ("int", 1, 24 * 14, True, True),
    "orders_min_impressions": ("int", 0, 10**9, True, True),
    "srm_batches": ("int", 1, 168, True, True),
    "max_malformed_rate": ("rate", 0.0, 1.0, False, True),
    "max_orphan_rate": ("rate", 0.0, 1.0, False, True),
    "max_duplicate_rate": ("rate", 0.0, 1.0, False, True),
    "min_volume": ("int", 0, 10**9, True, True),
    "max_fallback_share": ("rate", 0.0, 1.0, False, True),
    "max_5xx_share": ("rate", 0.0, 1.0, False, True),
}

#: Form labels of the editable fields (the Experiments form and error messages use them).
LABELS: dict[str, str] = {
    "enabled": "Guardrails on",
    "ctr_margin": "CTR collapse: relative margin below the control",
    "ctr_probability": "CTR collapse: posterior probability",
    "ctr_window_hours": "CTR collapse: hours judged",
    "min_impressions": "CTR collapse: minimum impressions per model",
    "orders_margin": "Orders guard: relative margin below the control",
    "orders_probability": "Orders guard: posterior probability",
    "orders_window_hours": "Orders guard: hours judged",
    "orders_min_impressions": "Orders guard: minimum impressions per model",
    "srm_batches": "Split integrity: consecutive SRM batches",
    "max_malformed_rate": "Data quality: largest malformed-line rate",
    "max_orphan_rate": "Data quality: largest orphan-click rate",
    "max_duplicate_rate": "Data quality: largest duplicate-event rate",
    "min_volume": "Data quality: least events before rates are judged",
    "max_fallback_share": "Serving health: largest fallback share",
    "max_5xx_share": "Serving health: largest 5xx share",
}


@dataclass(frozen=True)
class GuardrailRules:
    """An experiment's guardrails; every field validated at construction (see module doc).

    Rates are fractions (0.3 = 30 %). ``enabled=False`` turns every rule off.
    """

    enabled: bool = True
    ctr_margin: float = 0.30
    ctr_probability: float = 0.99
    ctr_window_hours: int = 2
    min_impressions: int = 500
    orders_margin: float = 0.20
    orders_probability: float = 0.95
    orders_window_hours: int = 72
    orders_min_impressions: int = 20000
    srm_batches: int = 3
    max_malformed_rate: float = 0.05
    max_orphan_rate: float = 0.05
    max_duplicate_rate: float = 0.05
    min_volume: int = 1000
    max_fallback_share: float = 0.05
    max_5xx_share: float = 0.01

    def __post_init__(self) -> None:
        errors = rule_errors(self.to_dict())
        if len(errors) == 1:
            name, message = next(iter(errors.items()))
            raise ValidationError(f"guardrails.{name}", message)
        if errors:
            raise ValidationError(
                "guardrails",
                "; ".join(f"{LABELS.get(n, n)} ({n}) {m}" for n, m in errors.items()),
            )
        for name, (kind, *_rest) in _BOUNDS.items():
            value = getattr(self, name)
            object.__setattr__(self, name, float(value) if kind == "rate" else int(value))

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> GuardrailRules:
        """From a stored document or a form; missing keys take the defaults."""
        if data is None:
            return cls()
        if isinstance(data, GuardrailRules):
            return data
        if not isinstance(data, Mapping):
            raise ValidationError("guardrails", "must be an object of guardrail settings")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValidationError("guardrails", f"unknown setting(s): {', '.join(unknown)}")
        return cls(**dict(data))


def rule_errors(values: Mapping[str, Any]) -> dict[str, str]:
    """Every invalid field of ``values`` with its message (all at once, for a form).

    Missing fields are not errors (they take the defaults).
    """
    errors: dict[str, str] = {}
    if "enabled" in values and not isinstance(values["enabled"], bool):
        errors["enabled"] = "must be true or false"
    for name, (kind, low, high, low_in, high_in) in _BOUNDS.items():
        if name not in values:
            continue
        value = values[name]
        if kind == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                errors[name] = f"must be a whole number, got {value!r}"
                continue
        elif (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            errors[name] = f"must be a finite number, got {value!r}"
            continue
        too_low = value < low or (value == low and not low_in)
        too_high = value > high or (value == high and not high_in)
        if too_low or too_high:
            left, right = "[" if low_in else "(", "]" if high_in else ")"
            errors[name] = f"must be in {left}{low:g}, {high:g}{right}, got {value!r}"
    return errors
