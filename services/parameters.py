"""Arm parameters: what the parameter job writes and the selector reads, per batch.

Per arm, ``alpha`` is the clicks and ``beta`` the impressions without a click over the
experiment's evaluation window (stored under the seed's names ``mab_alpha`` / ``mab_beta``,
with the model code as ``variant_name``). ``weight`` is the arm's serving probability for the
batch: P(best) under Beta(1 + alpha, 1 + beta) with the exposure floor applied, or the warm-up
split while the experiment warms up.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from services.exceptions import ValidationError


@dataclass(frozen=True)
class ArmParameters:
    model_code: str
    alpha: int = 0
    beta: int = 0
    weight: float | None = None

    def __post_init__(self) -> None:
        for name in ("alpha", "beta"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValidationError(name, f"must be a non-negative whole number, got {value!r}")
        if self.weight is not None and not (
            isinstance(self.weight, int | float)
            and math.isfinite(self.weight)
            and 0.0 <= self.weight <= 1.0
        ):
            raise ValidationError("weight", f"must be within [0, 1], got {self.weight!r}")

    @property
    def impressions(self) -> int:
        return self.alpha + self.beta


@dataclass(frozen=True)
class ParameterSnapshot:
    """The parameters of one experiment's current batch, in the experiment's arm order."""

    experiment_id: str
    batch_id: str | None
    arms: tuple[ArmParameters, ...]
    warmup: bool = True
    computed_at: datetime | None = None

    def for_models(self, model_codes: Sequence[str]) -> tuple[ArmParameters, ...]:
        """Parameters aligned with ``model_codes``; an arm with none yet gets zero counts."""
        by_code = {arm.model_code: arm for arm in self.arms}
        return tuple(by_code.get(code, ArmParameters(code)) for code in model_codes)

    @property
    def has_weights(self) -> bool:
        return bool(self.arms) and all(arm.weight is not None for arm in self.arms)


def empty_snapshot(experiment_id: str, model_codes: Sequence[str]) -> ParameterSnapshot:
    """Before the first batch: no counts, warm-up."""
    return ParameterSnapshot(
        experiment_id=experiment_id,
        batch_id=None,
        arms=tuple(ArmParameters(code) for code in model_codes),
        warmup=True,
    )


@dataclass(frozen=True)
class BatchArm:
    """One arm in a parameter batch: its counts over the window and its serving weight."""

    model_code: str
    alpha: int
    beta: int
    p_best: float | None
    weight: float


@dataclass(frozen=True)
class ParameterBatch:
    """One reweight of a dynamic experiment, kept forever as its history.

    ``window_start``/``window_end`` bound the evaluation window the counts cover; ``seed`` is the
    seed of any Monte Carlo step (None when all figures are exact); ``data_quality`` holds the
    job's counts (orphan clicks, duplicates, malformed lines...) and ``srm`` the sample-ratio
    check of the served traffic.
    """

    experiment_id: str
    batch_id: str
    window_start: datetime
    window_end: datetime
    arms: tuple[BatchArm, ...]
    warmup: bool
    created_at: datetime | None = None
    seed: int | None = None
    data_quality: dict[str, int] | None = None
    srm: dict[str, object] | None = None
    #: A guardrail held the batch (bad data): recorded, but its parameters never served.
    held: bool = False

    def snapshot(self) -> ParameterSnapshot:
        return ParameterSnapshot(
            experiment_id=self.experiment_id,
            batch_id=self.batch_id,
            arms=tuple(ArmParameters(a.model_code, a.alpha, a.beta, a.weight) for a in self.arms),
            warmup=self.warmup,
            computed_at=self.created_at,
        )
