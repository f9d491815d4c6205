"""Experiments, their arms and areas: frozen, self-validating configuration.

An *area* is a place on the site that shows a recommendation list (main page, product detail,
cart...). An *experiment* compares models (its *arms*) in one area, either dynamically (batched
Thompson sampling moves traffic towards the better click rate) or statically (a fixed split).

Every object validates itself at construction and raises :class:`ValidationError` naming the
field, so that a form, an HTTP 400 or a command-line error can point at it. Every field is
checked: the error raised is the first, and it is a :class:`ValidationErrors` holding them all
when there are several; :func:`validation_errors` returns that list for a form.

Identifier patterns (documented in the README):

* experiment id: ``EXP-01`` style, ``^[A-Z][A-Z0-9]*(-[A-Z0-9]+)*$``, at most 32 characters;
* area code: ``^[A-Za-z0-9][A-Za-z0-9_-]*$``, at most 32 characters;
* model code: ``^[A-Za-z0-9][A-Za-z0-9._-]*$``, at most 64 characters (e.g. ``EXP-01-NCF-01``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from services.decision_rule import DecisionRule
from services.exceptions import ValidationError, ValidationErrors
from services.guardrails.rules import GuardrailRules

EXPERIMENT_ID_PATTERN = re.compile(r"^[A-Z][A-Z0-9]*(-[A-Z0-9]+)*$")
AREA_CODE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
MODEL_CODE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
EXPERIMENT_ID_MAX = 32
AREA_CODE_MAX = 32
MODEL_CODE_MAX = 64
NAME_MAX = 200
MAX_ARMS = 10

#: API Gateway caps a stage cache's TTL at one hour.
MAX_CACHE_TTL_SECONDS = 3600


class ExperimentType(StrEnum):
    DYNAMIC = "dynamic"
    STATIC = "static"


class ServingMode(StrEnum):
    """How a dynamic test turns the batch's posteriors into a model for one request.

    ``draw``: a fresh Beta draw per request (the seed's selector). ``sticky``: the member is placed
    by a stable hash into buckets sized by P(best), so the member keeps its model for the batch.
    Both serve arm k with the same probability, P(k is best).
    """

    DRAW = "draw"
    STICKY = "sticky"


class EvaluationWindow(StrEnum):
    """Which counts the bandit weighs each batch.

    ``sliding``: the last ``evaluation_window_hours`` hours (adapts to drift; forgets).
    ``cumulative``: every hour since the experiment started (steadier; slow to follow drift).
    See docs/simulation.md for the lab's comparison of the two.
    """

    SLIDING = "sliding"
    CUMULATIVE = "cumulative"


class Status(StrEnum):
    DRAFT = "draft"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"


def check_code(field_name: str, value: object, pattern: re.Pattern[str], max_len: int) -> str:
    """Return ``value`` if it is a string matching ``pattern`` within ``max_len`` characters."""
    if not isinstance(value, str) or not value:
        raise ValidationError(field_name, "is required and must be a non-empty string")
    if len(value) > max_len:
        raise ValidationError(field_name, f"must be at most {max_len} characters")
    if not pattern.fullmatch(value):
        raise ValidationError(field_name, f"{value!r} does not match {pattern.pattern}")
    return value


def _check_int(field_name: str, value: object, minimum: int, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(field_name, f"must be a whole number, got {value!r}")
    if value < minimum:
        raise ValidationError(field_name, f"must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValidationError(field_name, f"must be at most {maximum}, got {value}")
    return value


def _check_number(field_name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValidationError(field_name, f"must be a finite number, got {value!r}")
    return float(value)


class _Checks:
    """Runs a constructor's checks one after another, keeping every error instead of the first."""

    def __init__(self) -> None:
        self.errors: list[ValidationError] = []

    def __call__(self, check: Callable[..., Any], *args: Any) -> bool:
        """Run ``check(*args)``; False (and the error kept) when it raised ValidationError."""
        try:
            check(*args)
        except ValidationErrors as exc:
            self.errors.extend(exc.errors)
            return False
        except ValidationError as exc:
            self.errors.append(exc)
            return False
        return True

    def raise_any(self) -> None:
        if len(self.errors) == 1:
            raise self.errors[0]
        if self.errors:
            raise ValidationErrors(self.errors)


@dataclass(frozen=True)
class Arm:
    """One competing model of an experiment.

    ``weight`` is the static split share (any positive number: 2:3:5 or 0.2/0.3/0.5 alike; the
    experiment normalises the weights to sum to 1) and, in a dynamic test, the warm-up split.
    """

    model_code: str
    label: str = ""
    weight: float = 1.0
    control: bool = False

    def __post_init__(self) -> None:
        check = _Checks()
        check(check_code, "model_code", self.model_code, MODEL_CODE_PATTERN, MODEL_CODE_MAX)
        check(self._check_label)
        check(self._check_weight)
        check(self._check_control)
        check.raise_any()

    def _check_label(self) -> None:
        if not isinstance(self.label, str) or len(self.label) > NAME_MAX:
            raise ValidationError("label", f"must be a string of at most {NAME_MAX} characters")

    def _check_weight(self) -> None:
        if _check_number("weight", self.weight) <= 0:
            raise ValidationError("weight", f"must be positive, got {self.weight}")

    def _check_control(self) -> None:
        if not isinstance(self.control, bool):
            raise ValidationError("control", "must be true or false")

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_code": self.model_code,
            "label": self.label,
            "weight": self.weight,
            "control": self.control,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Arm:
        return cls(
            model_code=data.get("model_code"),  # type: ignore[arg-type]
            label=data.get("label", "") or "",
            weight=data.get("weight", 1.0),
            control=data.get("control", False),
        )


@dataclass(frozen=True)
class Area:
    """A recommendation area and the model it serves when no experiment runs there."""

    area_code: str
    default_model: str
    name: str = ""
    active_experiment_id: str | None = None

    def __post_init__(self) -> None:
        check_code("area_code", self.area_code, AREA_CODE_PATTERN, AREA_CODE_MAX)
        check_code("default_model", self.default_model, MODEL_CODE_PATTERN, MODEL_CODE_MAX)
        if not isinstance(self.name, str) or len(self.name) > NAME_MAX:
            raise ValidationError("name", f"must be a string of at most {NAME_MAX} characters")

    def to_dict(self) -> dict[str, Any]:
        return {
            "area_code": self.area_code,
            "default_model": self.default_model,
            "name": self.name,
            "active_experiment_id": self.active_experiment_id,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Area:
        return cls(
            area_code=data.get("area_code"),  # type: ignore[arg-type]
            default_model=data.get("default_model"),  # type: ignore[arg-type]
            name=data.get("name", "") or "",
            active_experiment_id=data.get("active_experiment_id"),
        )


@dataclass(frozen=True)
class Experiment:
    """An experiment's configuration and state. Construct it and it has been validated.

    Time fields are naive UTC datetimes (as MongoDB returns them). ``version`` increases by one
    with every stored change; an update must carry the version it read (optimistic concurrency).
    """

    experiment_id: str
    name: str
    area_code: str
    type: ExperimentType
    arms: tuple[Arm, ...]
    batch_interval_minutes: int = 60
    evaluation_window_hours: int = 24
    warmup_hours: float = 6.0
    warmup_min_impressions: int = 1000
    exposure_floor: float = 0.0
    serving_mode: ServingMode = ServingMode.DRAW
    cache_ttl_seconds: int = 300
    evaluation_window: EvaluationWindow = EvaluationWindow.CUMULATIVE
    decision_rule: DecisionRule = field(default_factory=DecisionRule)
    guardrails: GuardrailRules = field(default_factory=GuardrailRules)
    disabled_models: tuple[str, ...] = ()
    salt: str = ""
    status: Status = Status.DRAFT
    created_at: datetime | None = None
    updated_at: datetime | None = None
    started_at: datetime | None = None
    stopped_at: datetime | None = None
    promoted_model: str | None = None
    created_by: str = ""
    updated_by: str = ""
    version: int = 0
    description: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        # Every field is checked, in this order; a check that needs valid arms runs only then.
        check = _Checks()
        check(
            check_code,
            "experiment_id",
            self.experiment_id,
            EXPERIMENT_ID_PATTERN,
            EXPERIMENT_ID_MAX,
        )
        check(self._check_name)
        check(check_code, "area_code", self.area_code, AREA_CODE_PATTERN, AREA_CODE_MAX)
        check(self._normalise_enum, "type", ExperimentType)
        check(self._normalise_enum, "serving_mode", ServingMode)
        check(self._normalise_enum, "status", Status)
        arms_valid = check(self._validate_arms)
        check(self._normalise_window)
        check(self._normalise_decision_rule)
        check(self._normalise_guardrails)
        if arms_valid:
            check(self._validate_disabled)
        check(_check_int, "batch_interval_minutes", self.batch_interval_minutes, 1, 7 * 24 * 60)
        check(_check_int, "evaluation_window_hours", self.evaluation_window_hours, 1, 90 * 24)
        check(self._check_warmup)
        check(_check_int, "warmup_min_impressions", self.warmup_min_impressions, 0)
        check(self._check_floor, arms_valid)
        check(_check_int, "cache_ttl_seconds", self.cache_ttl_seconds, 1, MAX_CACHE_TTL_SECONDS)
        check(self._check_salt)
        if arms_valid:
            check(self._check_promoted)
        check(_check_int, "version", self.version, 0)
        check.raise_any()

    def _check_name(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValidationError("name", "is required")
        if len(self.name) > NAME_MAX:
            raise ValidationError("name", f"must be at most {NAME_MAX} characters")

    def _normalise_enum(self, field_name: str, enum: type[StrEnum]) -> None:
        object.__setattr__(self, field_name, _enum(field_name, enum, getattr(self, field_name)))

    def _normalise_window(self) -> None:
        if self.evaluation_window_hours == EvaluationWindow.CUMULATIVE.value:
            # Shorthand: ``evaluation_window_hours="cumulative"`` is the cumulative window (the
            # hours keep their default, used by charts of recent traffic).
            object.__setattr__(self, "evaluation_window", EvaluationWindow.CUMULATIVE)
            object.__setattr__(self, "evaluation_window_hours", 24)
        self._normalise_enum("evaluation_window", EvaluationWindow)

    def _normalise_decision_rule(self) -> None:
        rule = self.decision_rule
        if rule is None or isinstance(rule, Mapping):
            rule = DecisionRule.from_dict(rule)
        if not isinstance(rule, DecisionRule):
            raise ValidationError("decision_rule", "must be an object of decision settings")
        object.__setattr__(self, "decision_rule", rule)

    def _normalise_guardrails(self) -> None:
        guardrails = self.guardrails
        if guardrails is None or isinstance(guardrails, Mapping):
            guardrails = GuardrailRules.from_dict(guardrails)
        if not isinstance(guardrails, GuardrailRules):
            raise ValidationError("guardrails", "must be an object of guardrail settings")
        object.__setattr__(self, "guardrails", guardrails)

    def _check_warmup(self) -> None:
        warmup = _check_number("warmup_hours", self.warmup_hours)
        if warmup < 0:
            raise ValidationError("warmup_hours", f"must not be negative, got {warmup}")

    def _check_floor(self, arms_valid: bool) -> None:
        floor = _check_number("exposure_floor", self.exposure_floor)
        if floor < 0:
            raise ValidationError("exposure_floor", f"must not be negative, got {floor}")
        if arms_valid and floor * len(self.arms) >= 1:
            raise ValidationError(
                "exposure_floor",
                f"floor x arms must be below 1 ({floor} x {len(self.arms)} arms = "
                f"{floor * len(self.arms):g}), or no traffic is left for the bandit",
            )

    def _check_salt(self) -> None:
        if not isinstance(self.salt, str):
            raise ValidationError("salt", "must be a string")

    def _check_promoted(self) -> None:
        if self.promoted_model is not None and self.promoted_model not in self.model_codes:
            raise ValidationError(
                "promoted_model",
                f"{self.promoted_model!r} is not one of the arms ({', '.join(self.model_codes)})",
            )

    def _validate_arms(self) -> None:
        arms = self.arms
        if isinstance(arms, list):
            arms = tuple(arms)
            object.__setattr__(self, "arms", arms)
        if not isinstance(arms, tuple) or not all(isinstance(a, Arm) for a in arms):
            raise ValidationError("arms", "must be a list of arms")
        if len(arms) < 2:
            raise ValidationError("arms", f"an experiment needs at least 2 arms, got {len(arms)}")
        if len(arms) > MAX_ARMS:
            raise ValidationError("arms", f"at most {MAX_ARMS} arms, got {len(arms)}")
        errors: list[ValidationError] = []
        seen: set[str] = set()
        for i, arm in enumerate(arms):
            if arm.model_code in seen:
                errors.append(
                    ValidationError(
                        f"arms[{i}].model_code", f"model code {arm.model_code!r} appears twice"
                    )
                )
            seen.add(arm.model_code)
        controls = [i for i, arm in enumerate(arms) if arm.control]
        if len(controls) != 1:
            errors.append(
                ValidationError(
                    "arms", f"exactly one arm must be the control, found {len(controls)}"
                )
            )
        if len(errors) == 1:
            raise errors[0]
        if errors:
            raise ValidationErrors(errors)

    def _validate_disabled(self) -> None:
        """Switched-off models: arms, never the control, leaving the control and one more."""
        disabled = self.disabled_models
        if disabled is None:
            disabled = ()
        if isinstance(disabled, str) or not isinstance(disabled, Sequence):
            raise ValidationError("disabled_models", "must be a list of model codes")
        disabled = tuple(disabled)
        for code in disabled:
            if code not in self.model_codes:
                raise ValidationError("disabled_models", f"{code!r} is not one of the arms")
            if code == self.control_arm.model_code:
                raise ValidationError("disabled_models", "the control cannot be switched off")
        if len(set(disabled)) != len(disabled):
            raise ValidationError("disabled_models", "a model appears twice")
        if len(self.arms) - len(disabled) < 2:
            raise ValidationError(
                "disabled_models", "at least the control and one other model must stay on"
            )
        object.__setattr__(self, "disabled_models", disabled)

    # --- derived values -------------------------------------------------------------------

    @property
    def model_codes(self) -> tuple[str, ...]:
        return tuple(arm.model_code for arm in self.arms)

    @property
    def control_arm(self) -> Arm:
        return next(arm for arm in self.arms if arm.control)

    @property
    def enabled_model_codes(self) -> tuple[str, ...]:
        """The arms that may be served: all but the switched-off ones."""
        return tuple(c for c in self.model_codes if c not in self.disabled_models)

    @property
    def normalised_weights(self) -> tuple[float, ...]:
        """The configured weights scaled to sum to 1 (2:3:5 becomes 0.2, 0.3, 0.5).

        A switched-off model (``disabled_models``) gets 0 and the others share its weight in
        proportion: the split actually served, which the split check expects.
        """
        weights = [0.0 if a.model_code in self.disabled_models else a.weight for a in self.arms]
        total = math.fsum(weights)
        return tuple(w / total for w in weights)

    @property
    def window_hours(self) -> int | None:
        """Hours of the bandit's evaluation window, or None for the cumulative window."""
        if self.evaluation_window is EvaluationWindow.CUMULATIVE:
            return None
        return self.evaluation_window_hours

    @property
    def hash_salt(self) -> str:
        """Salt of the static split's member hash; the experiment id unless set."""
        return self.salt or self.experiment_id

    @property
    def is_active(self) -> bool:
        """Running or paused: the experiment holds its area."""
        return self.status in (Status.RUNNING, Status.PAUSED)

    def with_changes(self, **changes: Any) -> Experiment:
        """A validated copy with ``changes`` applied."""
        return replace(self, **changes)

    # --- (de)serialisation ----------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "arms":
                value = [arm.to_dict() for arm in value]
            elif f.name in ("decision_rule", "guardrails"):
                value = value.to_dict()
            elif f.name == "disabled_models":
                value = list(value)
            elif isinstance(value, StrEnum):
                value = value.value
            out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Experiment:
        """Build from a stored document or a form; unknown keys (``_id``...) are ignored."""
        known = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in known}
        raw_arms = data.get("arms")
        if not isinstance(raw_arms, Sequence) or isinstance(raw_arms, str):
            raise ValidationError("arms", "must be a list of arms")
        arm_errors: list[ValidationError] = []
        arms = []
        for i, raw in enumerate(raw_arms):
            if not isinstance(raw, Mapping):
                arm_errors.append(ValidationError(f"arms[{i}]", "must be an object"))
                continue
            try:
                arms.append(Arm.from_dict(raw))
            except ValidationError as exc:
                arm_errors.extend(
                    ValidationError(f"arms[{i}].{e.field}", e.message)
                    for e in getattr(exc, "errors", (exc,))
                )
        if not arm_errors:
            kwargs["arms"] = tuple(arms)
            return cls(**kwargs)
        # The arms are invalid: the other fields are still checked, against stand-in arms (one
        # per given arm, with its control flag, so the arm-level checks still apply), for one
        # list of every error.
        kwargs["arms"] = tuple(
            Arm(f"arm-{i}", control=isinstance(raw, Mapping) and raw.get("control") is True)
            for i, raw in enumerate(raw_arms)
        )
        kwargs.pop("promoted_model", None)
        kwargs.pop("disabled_models", None)
        others: list[ValidationError] = []
        try:
            cls(**kwargs)
        except ValidationError as exc:
            others = list(getattr(exc, "errors", (exc,)))
        errors = arm_errors + others
        raise errors[0] if len(errors) == 1 else ValidationErrors(errors)


def validation_errors(data: Mapping[str, Any]) -> tuple[ValidationError, ...]:
    """Every field error of an experiment given as a dict (a form's values); () when it is valid.

    The same checks as :meth:`Experiment.from_dict`, which raises the first of them.
    """
    try:
        Experiment.from_dict(data)
    except ValidationError as exc:
        return tuple(getattr(exc, "errors", (exc,)))
    return ()


def _enum(field_name: str, enum: type[StrEnum], value: object) -> Any:
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(e.value for e in enum)
        raise ValidationError(field_name, f"{value!r} is not one of: {allowed}") from None
