"""Hourly metrics: impressions, clicks and orders per experiment, model and hour."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.exceptions import ValidationError


@dataclass(frozen=True)
class HourlyMetric:
    experiment_id: str
    model_code: str
    hour: datetime
    impressions: int
    clicks: int
    orders: int = 0
    unique_members: int = 0

    def __post_init__(self) -> None:
        if self.hour != self.hour.replace(minute=0, second=0, microsecond=0):
            raise ValidationError("hour", f"must be the start of an hour, got {self.hour}")
        for name in ("impressions", "clicks", "orders", "unique_members"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValidationError(name, f"must be a non-negative whole number, got {value!r}")
        if self.clicks > self.impressions:
            raise ValidationError(
                "clicks", f"{self.clicks} clicks exceed {self.impressions} impressions"
            )

    @property
    def ctr(self) -> float:
        return self.clicks / self.impressions if self.impressions else 0.0
