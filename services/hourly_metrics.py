"""Hourly metrics: impressions, clicks and orders per experiment, model and hour.

The hourly metrics are the strata every estimate is built from: the parameter job writes one
document per (experiment, model, hour) and computes each batch's parameters from the documents
of the evaluation window (:func:`summed_counts`), and the decision and SRM checks read the same
documents. Beside the counts, a document carries what the estimators need:

* ``impressions_by_batch``: impressions per parameter batch id they were served under
  (``"unknown"`` for impressions logged without one);
* ``first_members_by_batch``: members whose first impression in the experiment fell in this
  hour with this model, per batch id (the unit a static or sticky test assigns);
* ``first_views_by_batch``: per batch id, the members whose first impression under that batch
  (in this hour) went to this model: one fresh draw each (the unit a draw-mode test assigns, see
  ``spark/transform.first_views_of``);
* ``propensity_missing``: impressions logged without a propensity;
* ``ipw_weight`` / ``ipw_clicks``: the sums of 1/propensity over the impressions that have one,
  and over those of them that were clicked (the inputs of a Hajek estimate).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.exceptions import ValidationError

UNKNOWN_BATCH = "unknown"


@dataclass(frozen=True)
class HourlyMetric:
    experiment_id: str
    model_code: str
    hour: datetime
    impressions: int
    clicks: int
    orders: int = 0
    unique_members: int = 0
    impressions_by_batch: Mapping[str, int] = field(default_factory=dict)
    first_members_by_batch: Mapping[str, int] = field(default_factory=dict)
    first_views_by_batch: Mapping[str, int] = field(default_factory=dict)
    propensity_missing: int = 0
    ipw_weight: float = 0.0
    ipw_clicks: float = 0.0

    def __post_init__(self) -> None:
        if self.hour != self.hour.replace(minute=0, second=0, microsecond=0):
            raise ValidationError("hour", f"must be the start of an hour, got {self.hour}")
        for name in ("impressions", "clicks", "orders", "unique_members", "propensity_missing"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValidationError(name, f"must be a non-negative whole number, got {value!r}")
        if self.clicks > self.impressions:
            raise ValidationError(
                "clicks", f"{self.clicks} clicks exceed {self.impressions} impressions"
            )
        for name in ("ipw_weight", "ipw_clicks"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or value < 0:
                raise ValidationError(name, f"must be a non-negative number, got {value!r}")
        object.__setattr__(self, "impressions_by_batch", dict(self.impressions_by_batch))
        object.__setattr__(self, "first_members_by_batch", dict(self.first_members_by_batch))
        object.__setattr__(self, "first_views_by_batch", dict(self.first_views_by_batch))

    @property
    def ctr(self) -> float:
        return self.clicks / self.impressions if self.impressions else 0.0

    def to_dict(self) -> dict[str, Any]:
        """The document fields (without ``_id``), as the job writes them."""
        return {
            "experiment_id": self.experiment_id,
            "model_code": self.model_code,
            "hour": self.hour,
            "impressions": self.impressions,
            "clicks": self.clicks,
            "orders": self.orders,
            "unique_members": self.unique_members,
            "ctr": self.ctr,
            "impressions_by_batch": dict(self.impressions_by_batch),
            "first_members_by_batch": dict(self.first_members_by_batch),
            "first_views_by_batch": dict(self.first_views_by_batch),
            "propensity_missing": self.propensity_missing,
            "ipw_weight": float(self.ipw_weight),
            "ipw_clicks": float(self.ipw_clicks),
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> HourlyMetric:
        """From a document; fields older documents lack take their empty value."""
        return cls(
            experiment_id=doc["experiment_id"],
            model_code=doc["model_code"],
            hour=doc["hour"],
            impressions=int(doc["impressions"]),
            clicks=int(doc["clicks"]),
            orders=int(doc.get("orders", 0)),
            unique_members=int(doc.get("unique_members", 0)),
            impressions_by_batch={
                str(k): int(v) for k, v in (doc.get("impressions_by_batch") or {}).items()
            },
            first_members_by_batch={
                str(k): int(v) for k, v in (doc.get("first_members_by_batch") or {}).items()
            },
            first_views_by_batch={
                str(k): int(v) for k, v in (doc.get("first_views_by_batch") or {}).items()
            },
            propensity_missing=int(doc.get("propensity_missing", 0)),
            ipw_weight=float(doc.get("ipw_weight", 0.0)),
            ipw_clicks=float(doc.get("ipw_clicks", 0.0)),
        )


@dataclass(frozen=True)
class ArmTotals:
    """One arm's counts over a window: what alpha (clicks) and beta (non-clicks) come from."""

    impressions: int = 0
    clicks: int = 0


def summed_counts(hourly: Iterable[Mapping[str, Any]]) -> dict[str, ArmTotals]:
    """Impressions and clicks per ``model_code``, summed over the hourly documents given.

    The plain pooled sum the Beta parameters have always used. It is the one place the job turns
    strata into an arm's counts, so that an estimator weighting the hours (or the propensities)
    can take its place with the same signature.
    """
    impressions: dict[str, int] = {}
    clicks: dict[str, int] = {}
    for doc in hourly:
        code = str(doc["model_code"])
        impressions[code] = impressions.get(code, 0) + int(doc["impressions"])
        clicks[code] = clicks.get(code, 0) + int(doc["clicks"])
    return {code: ArmTotals(impressions[code], clicks[code]) for code in impressions}
