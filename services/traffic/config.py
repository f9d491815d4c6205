"""Configuration of the traffic generator: the arms' true rates and the shape of the traffic."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from services.exceptions import ValidationError
from services.experiments import (
    AREA_CODE_MAX,
    AREA_CODE_PATTERN,
    EXPERIMENT_ID_MAX,
    EXPERIMENT_ID_PATTERN,
    MODEL_CODE_MAX,
    MODEL_CODE_PATTERN,
    check_code,
)


def _rate(name: str, value: object, *, upper: float = 1.0) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValidationError(name, f"must be a finite number, got {value!r}")
    if not 0.0 <= value <= upper:
        raise ValidationError(name, f"must be within [0, {upper:g}], got {value}")
    return float(value)


@dataclass(frozen=True)
class ArmSpec:
    """One model in one area's experiment, with its true behaviour.

    Attributes:
        ctr: Probability that an impression gets at least one click.
        order_rate: Orders per impression (an order follows a click, so ``order_rate <= ctr``).
        weight: Share of the area's traffic under the fixed split (relative to the area's arms).
    """

    experiment_id: str
    area_code: str
    model_code: str
    ctr: float
    order_rate: float = 0.0
    weight: float = 1.0

    def __post_init__(self) -> None:
        check_code("experiment_id", self.experiment_id, EXPERIMENT_ID_PATTERN, EXPERIMENT_ID_MAX)
        check_code("area_code", self.area_code, AREA_CODE_PATTERN, AREA_CODE_MAX)
        check_code("model_code", self.model_code, MODEL_CODE_PATTERN, MODEL_CODE_MAX)
        _rate("ctr", self.ctr)
        _rate("order_rate", self.order_rate)
        if self.order_rate > self.ctr:
            raise ValidationError(
                "order_rate",
                f"{self.order_rate} exceeds the click rate {self.ctr}: an order follows a click",
            )
        if (
            isinstance(self.weight, bool)
            or not isinstance(self.weight, int | float)
            or not (math.isfinite(self.weight) and self.weight > 0)
        ):
            raise ValidationError("weight", f"must be a positive number, got {self.weight!r}")


@dataclass(frozen=True)
class TrafficConfig:
    """What to generate.

    Attributes:
        arms: The arms; each area's arms must belong to one experiment.
        start: First hour (floored to the hour), naive UTC.
        hours: Number of hours of impressions.
        requests_per_hour: Impressions per hour, spread evenly over the areas.
        members: Size of the member population.
        member_skew: Exponent of the members' visit frequency (rank^-skew): above 0, a few
            members come back often, as on a real site; 0 makes every member equally likely.
        seed: Everything drawn follows from it; hour h uses the generator ``(seed, h)``, so an
            hour's events do not depend on how many hours are generated.
        click_delay_median_seconds / click_delay_sigma: Log-normal delay from impression to
            click (the default median of 20 s has a tail of several minutes).
        order_delay_median_seconds: Log-normal delay from click to order.
        late_click_share: Share of clicks arriving 61 minutes to 3 hours after the impression.
        duplicate_share: Share of events logged twice (same event id).
        orphan_click_share: Extra clicks, as a share of clicks, whose impression was never logged.
        malformed_share: Extra unreadable lines, as a share of the lines.
    """

    arms: tuple[ArmSpec, ...]
    start: datetime
    hours: int = 1
    requests_per_hour: int = 1000
    members: int = 10_000
    member_skew: float = 0.8
    seed: int = 0
    click_delay_median_seconds: float = 20.0
    click_delay_sigma: float = 1.2
    order_delay_median_seconds: float = 300.0
    late_click_share: float = 0.0
    duplicate_share: float = 0.0
    orphan_click_share: float = 0.0
    malformed_share: float = 0.0

    def __post_init__(self) -> None:
        arms = tuple(self.arms) if isinstance(self.arms, list) else self.arms
        object.__setattr__(self, "arms", arms)
        if not isinstance(arms, tuple) or not arms or not all(isinstance(a, ArmSpec) for a in arms):
            raise ValidationError("arms", "must be a non-empty list of ArmSpec")
        seen: set[tuple[str, str]] = set()
        experiment_of_area: dict[str, str] = {}
        for i, arm in enumerate(arms):
            key = (arm.experiment_id, arm.model_code)
            if key in seen:
                raise ValidationError(f"arms[{i}]", f"{arm.model_code} appears twice")
            seen.add(key)
            other = experiment_of_area.setdefault(arm.area_code, arm.experiment_id)
            if other != arm.experiment_id:
                raise ValidationError(
                    f"arms[{i}].experiment_id",
                    f"area {arm.area_code} already runs {other}; one experiment per area",
                )
        if not isinstance(self.start, datetime):
            raise ValidationError("start", f"must be a datetime, got {self.start!r}")
        object.__setattr__(
            self, "start", self.start.replace(minute=0, second=0, microsecond=0, tzinfo=None)
        )
        for name, minimum in (("hours", 1), ("requests_per_hour", 1), ("members", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ValidationError(name, f"must be a whole number >= {minimum}, got {value!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValidationError("seed", f"must be a non-negative whole number, got {self.seed!r}")
        _rate("member_skew", self.member_skew, upper=5.0)
        for name in ("click_delay_median_seconds", "order_delay_median_seconds"):
            value = getattr(self, name)
            _rate(name, value, upper=1800.0)
            if value <= 0:
                raise ValidationError(name, f"must be positive, got {value}")
        _rate("click_delay_sigma", self.click_delay_sigma, upper=3.0)
        for name in (
            "late_click_share",
            "duplicate_share",
            "orphan_click_share",
            "malformed_share",
        ):
            _rate(name, getattr(self, name), upper=0.5)

    @property
    def area_codes(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(arm.area_code for arm in self.arms))
