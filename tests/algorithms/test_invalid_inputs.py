"""Every validation error of the selection algorithms: bad input is refused with a message."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime
from typing import Any

import numpy as np
import pytest

from services.algorithms.base import Selection, check_counts
from services.algorithms.epsilon_greedy import EpsilonGreedy
from services.algorithms.floor import apply_floor
from services.algorithms.sticky import HashedSplit
from services.algorithms.thompson import ThompsonSampling, sticky_weights
from services.algorithms.ucb1 import UCB1
from services.algorithms.warmup import WeightedDraw
from services.exceptions import ValidationError
from services.experiments import Status
from services.hashing import pick_bucket, unit_hash
from services.parameters import ParameterSnapshot
from services.selection import select_model
from tests.algorithms.conftest import LATER, make_experiment, make_snapshot

RNG = np.random.default_rng(0)

CASES: list[tuple[str, Callable[[], Any], str, str]] = [
    # (id, call, field, message fragment)
    ("hash no parts", lambda: unit_hash(), "parts", "at least one"),
    ("hash non-string", lambda: unit_hash("m", 3), "parts[1]", "must be a string"),  # type: ignore[arg-type]
    ("bucket u negative", lambda: pick_bucket(-0.1, [1]), "u", "[0, 1)"),
    ("bucket u is 1", lambda: pick_bucket(1.0, [1]), "u", "[0, 1)"),
    ("bucket u nan", lambda: pick_bucket(float("nan"), [1]), "u", "[0, 1)"),
    ("bucket u bool", lambda: pick_bucket(False, [1]), "u", "[0, 1)"),
    ("bucket no weights", lambda: pick_bucket(0.5, []), "weights", "at least one"),
    ("bucket negative weight", lambda: pick_bucket(0.5, [1, -1]), "weights[1]", "non-negative"),
    ("bucket inf weight", lambda: pick_bucket(0.5, [1, np.inf]), "weights[1]", "non-negative"),
    ("bucket zero total", lambda: pick_bucket(0.5, [0, 0]), "weights", "positive"),
    ("floor too large", lambda: apply_floor([0.5, 0.5], 0.5), "exposure_floor", "below 1"),
    ("floor negative", lambda: apply_floor([0.5, 0.5], -0.1), "exposure_floor", "negative"),
    ("floor nan", lambda: apply_floor([0.5, 0.5], float("nan")), "exposure_floor", "finite"),
    ("floor not a number", lambda: apply_floor([0.5, 0.5], "0.1"), "exposure_floor", "finite"),  # type: ignore[arg-type]
    ("floor weights negative", lambda: apply_floor([1.5, -0.5], 0.1), "weights", "negative"),
    ("floor weights sum", lambda: apply_floor([0.5, 0.4], 0.1), "weights", "sum to 1"),
    ("floor weights empty", lambda: apply_floor([], 0.1), "weights", "non-empty"),
    ("floor weights nan", lambda: apply_floor([np.nan, 1.0], 0.1), "weights", "finite"),
    ("floor weights 2-d", lambda: apply_floor([[0.5, 0.5]], 0.1), "weights", "non-empty"),
    ("selection reason", lambda: Selection("M-A", "lucky"), "reason", "not one of"),
    ("selection model", lambda: Selection("", "bts"), "model_code", "non-empty"),
    ("propensity zero", lambda: Selection("M-A", "bts", propensity=0.0), "propensity", "(0, 1]"),
    ("propensity > 1", lambda: Selection("M-A", "bts", propensity=1.5), "propensity", "(0, 1]"),
    (
        "propensity nan",
        lambda: Selection("M-A", "bts", propensity=math.nan),
        "propensity",
        "(0, 1]",
    ),
    ("propensity bool", lambda: Selection("M-A", "bts", propensity=True), "propensity", "(0, 1]"),
    ("propensity text", lambda: Selection("M-A", "bts", propensity="0.5"), "propensity", "(0, 1]"),
    ("counts not a list", lambda: check_counts("alphas", "12"), "alphas", "list"),  # type: ignore[arg-type]
    ("counts empty", lambda: check_counts("alphas", ()), "alphas", "at least one"),
    ("counts float", lambda: check_counts("alphas", (1.5,)), "alphas[0]", "whole number"),  # type: ignore[arg-type]
    ("counts bool", lambda: check_counts("alphas", (True,)), "alphas[0]", "whole number"),  # type: ignore[arg-type]
    ("ts negative alpha", lambda: ThompsonSampling((1, -1), (1, 1)), "alphas[1]", "non-negative"),
    ("ts length mismatch", lambda: ThompsonSampling((1, 1), (1,)), "betas", "one per arm"),
    (
        "ts floor too large",
        lambda: ThompsonSampling((1, 1), (1, 1), 0.5),
        "exposure_floor",
        "below 1",
    ),
    ("sticky weights none", lambda: sticky_weights([]), "params", "at least one"),
    ("hashed no weights", lambda: HashedSplit(()), "weights", "at least one"),
    ("hashed bad salt", lambda: HashedSplit((1.0,), ("a", 2)), "salt[1]", "string"),  # type: ignore[arg-type]
    ("hashed empty member", lambda: HashedSplit((1.0,)).choose("", RNG), "member_id", "non-empty"),
    ("draw negative weight", lambda: WeightedDraw((1.0, -1.0)), "weights[1]", "non-negative"),
    ("epsilon above 1", lambda: EpsilonGreedy((1, 1), (0, 0), 1.5), "epsilon", "[0, 1]"),
    ("epsilon negative", lambda: EpsilonGreedy((1, 1), (0, 0), -0.1), "epsilon", "[0, 1]"),
    ("epsilon nan", lambda: EpsilonGreedy((1, 1), (0, 0), float("nan")), "epsilon", "[0, 1]"),
    ("epsilon bool", lambda: EpsilonGreedy((1, 1), (0, 0), True), "epsilon", "[0, 1]"),
    ("eg clicks > imps", lambda: EpsilonGreedy((1, 1), (2, 0)), "clicks[0]", "more than"),
    ("eg length mismatch", lambda: EpsilonGreedy((1, 1), (0,)), "clicks", "one per arm"),
    ("ucb negative imps", lambda: UCB1((1, -1), (0, 0)), "impressions[1]", "non-negative"),
    ("ucb clicks > imps", lambda: UCB1((1, 1), (0, 5)), "clicks[1]", "more than"),
    ("ucb no arms", lambda: UCB1((), ()), "impressions", "at least one"),
]


@pytest.mark.parametrize(
    ("call", "field", "fragment"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_invalid_input_is_refused(call: Callable[[], Any], field: str, fragment: str) -> None:
    with pytest.raises(ValidationError) as info:
        call()
    assert info.value.field == field
    assert fragment in info.value.message
    # ValidationError is a ValueError: callers that only know ValueError still catch it.
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("status", [Status.DRAFT, Status.STOPPED])
def test_select_model_refuses_a_draft_or_stopped_experiment(status: Status) -> None:
    experiment = make_experiment(status=status)
    snapshot = make_snapshot(experiment, (1, 1), (1, 1))
    with pytest.raises(ValidationError, match=f"is {status.value}") as info:
        select_model(experiment, snapshot, "member-1", LATER, RNG)
    assert info.value.field == "status"


def test_select_model_refuses_another_experiments_snapshot() -> None:
    experiment = make_experiment()
    snapshot = ParameterSnapshot("EXP-99", "B-001", make_snapshot(experiment, (1, 1), (1, 1)).arms)
    with pytest.raises(ValidationError, match="EXP-99 cannot serve EXP-01") as info:
        select_model(experiment, snapshot, "member-1", LATER, RNG)
    assert info.value.field == "snapshot.experiment_id"


@pytest.mark.parametrize("member_id", ["", None, 42])
def test_select_model_refuses_a_missing_member_id(member_id: object) -> None:
    experiment = make_experiment()
    snapshot = make_snapshot(experiment, (1, 1), (1, 1))
    with pytest.raises(ValidationError) as info:
        select_model(experiment, snapshot, member_id, datetime(2026, 12, 1), RNG)  # type: ignore[arg-type]
    assert info.value.field == "member_id"
