"""Impressions, clicks and orders of one arm (model) of an experiment.

``ArmCounts`` is a value object: the parameter-update job produces one per experiment, model and
hour, and the counts of an evaluation window are the sum of its hours (``sum(hours)`` or
``a + b``). The bandit reads its arm parameters from it: ``alpha = clicks`` and
``beta = non_clicks``.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.exceptions import ValidationError
from services.statistics._validation import check_count


@dataclass(frozen=True)
class ArmCounts:
    """Counts of one arm over some period.

    Attributes:
        impressions: Recommendation lists shown.
        clicks: Lists clicked at least once; never more than ``impressions``.
        orders: Orders attributed to the arm. Not bounded by ``clicks``: one click can lead to
            several orders, and orders may be attributed through other paths.
    """

    impressions: int
    clicks: int
    orders: int = 0

    def __post_init__(self) -> None:
        # Normalise numpy integers to Python ints so that sums never overflow a fixed width.
        for name in ("impressions", "clicks", "orders"):
            object.__setattr__(self, name, check_count(name, getattr(self, name)))
        if self.clicks > self.impressions:
            raise ValidationError(
                "clicks",
                f"cannot exceed impressions ({self.clicks} clicks > {self.impressions} "
                "impressions); every click must join to an impression",
            )

    def __add__(self, other: object) -> ArmCounts:
        """Merge two periods (hours, batches) of the same arm."""
        if not isinstance(other, ArmCounts):
            return NotImplemented
        return ArmCounts(
            impressions=self.impressions + other.impressions,
            clicks=self.clicks + other.clicks,
            orders=self.orders + other.orders,
        )

    def __radd__(self, other: object) -> ArmCounts:
        # Lets the built-in sum() start from its default 0.
        if isinstance(other, int) and not isinstance(other, bool) and other == 0:
            return self
        return NotImplemented

    @property
    def non_clicks(self) -> int:
        """Impressions without a click: the bandit's ``beta`` parameter."""
        return self.impressions - self.clicks

    @property
    def ctr(self) -> float:
        """Click-through rate ``clicks / impressions``; 0.0 before the first impression."""
        if self.impressions == 0:
            return 0.0
        return self.clicks / self.impressions
