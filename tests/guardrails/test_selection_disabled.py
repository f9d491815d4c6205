"""A switched-off model is never served; the others share its traffic in proportion."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

import numpy as np
import pytest

from services.experiments import ExperimentType, Status
from services.parameters import ArmParameters, ParameterSnapshot
from services.selection import clear_cache, select_model
from tests.foundation.factories import arms, experiment

NOW = datetime(2026, 11, 20, 12)
CODES = ("CTRL", "M-A", "M-B")


def snapshot(warmup: bool, weights=(0.2, 0.5, 0.3)) -> ParameterSnapshot:
    counts = ((50, 950), (80, 920), (60, 940))
    return ParameterSnapshot(
        experiment_id="EXP-01",
        batch_id="B-7",
        arms=tuple(
            ArmParameters(c, a, b, w) for c, (a, b), w in zip(CODES, counts, weights, strict=True)
        ),
        warmup=warmup,
    )


@pytest.mark.parametrize(
    ("kind", "mode", "warmup"),
    [
        (ExperimentType.STATIC, "draw", False),
        (ExperimentType.DYNAMIC, "draw", True),
        (ExperimentType.DYNAMIC, "draw", False),
        (ExperimentType.DYNAMIC, "sticky", False),
    ],
)
def test_a_disabled_model_is_never_served(kind, mode, warmup) -> None:
    clear_cache()
    exp = experiment(
        arms=arms(*CODES),
        type=kind,
        serving_mode=mode,
        status=Status.RUNNING,
        disabled_models=("M-A",),
    )
    rng = np.random.default_rng(3)
    picks = [select_model(exp, snapshot(warmup), f"m{i}", NOW, rng) for i in range(3000)]
    served = Counter(p.model_code for p in picks)
    assert served["M-A"] == 0
    assert served["CTRL"] > 0 and served["M-B"] > 0
    # Indexes point at the experiment's arms; propensities of the models left sum to 1.
    assert all(CODES[p.arm_index] == p.model_code for p in picks)
    shares = {p.model_code: p.propensity for p in picks}
    assert sum(shares.values()) == pytest.approx(1.0)
    if kind is ExperimentType.DYNAMIC and not warmup and mode == "sticky":
        # Stored weights 0.2 / 0.3 renormalised to 0.4 / 0.6.
        assert shares == pytest.approx({"CTRL": 0.4, "M-B": 0.6})
        assert served["M-B"] / len(picks) == pytest.approx(0.6, abs=0.04)


def test_the_same_experiment_with_the_model_back_serves_it_again() -> None:
    clear_cache()
    exp = experiment(
        arms=arms(*CODES), serving_mode="sticky", status=Status.RUNNING, disabled_models=("M-A",)
    )
    rng = np.random.default_rng(3)
    snap = snapshot(False)
    assert all(select_model(exp, snap, f"m{i}", NOW, rng).model_code != "M-A" for i in range(500))
    back = exp.with_changes(disabled_models=())
    served = Counter(select_model(back, snap, f"m{i}", NOW, rng).model_code for i in range(2000))
    assert served["M-A"] / 2000 == pytest.approx(0.5, abs=0.05)


def test_the_served_split_and_the_stored_batch_give_a_disabled_model_zero() -> None:
    from services.guardrails.apply import without_disabled
    from services.parameters import BatchArm, ParameterBatch

    exp = experiment(
        arms=arms(*CODES, weights=(2.0, 3.0, 5.0)), status=Status.RUNNING, disabled_models=("M-A",)
    )
    assert exp.normalised_weights == pytest.approx((2 / 7, 0.0, 5 / 7))
    batch = ParameterBatch(
        "EXP-01",
        "B-1",
        NOW,
        NOW,
        tuple(BatchArm(c, 1, 1, 0.3, w) for c, w in zip(CODES, (0.2, 0.5, 0.3), strict=True)),
        False,
    )
    stored = without_disabled(batch, exp)
    assert [a.weight for a in stored.arms] == pytest.approx([0.4, 0.0, 0.6])
    assert without_disabled(batch, exp.with_changes(disabled_models=())) is batch
