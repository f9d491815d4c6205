"""The embedded stack logs, with every impression, the batch and propensity it was served with.

The demo traffic goes through the local gateway over HTTP; each impression written to the lake
must carry the ``batch_id`` and ``propensity`` of the gateway's answer. A parameter batch is
saved while the stack runs (no Spark here), so the dynamic test's impressions move from the
warm-up split to that batch's weights, and the static test's state its 5:5 split.
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path

import pytest

from dynab.stack import Stack, StackOptions
from services.algorithms.thompson import sticky_weights
from services.parameters import ArmParameters, BatchArm, ParameterBatch

pytestmark = pytest.mark.slow


def _impressions(lake: Path) -> list[dict]:
    out = []
    for path in lake.glob("dt=*/hour=*/part-*.jsonl"):
        for line in path.read_text().splitlines():
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue  # the demo traffic writes some malformed lines on purpose
            if isinstance(event, dict) and event.get("event_type") == "impression":
                out.append(event)
    return out


def test_impressions_carry_the_batch_and_propensity_of_their_answer(tmp_path: Path) -> None:
    options = StackOptions(
        data_dir=tmp_path, speed=720, requests_per_hour=1500, console=False, job=False, seed=5
    )
    stack = Stack(options).start()
    try:
        assert stack.store is not None and stack.clock is not None
        time.sleep(1.5)  # some warm-up traffic first
        exp = stack.store.get_experiment("EXP-01")
        counts = ((300, 9700), (200, 9800))
        weights = sticky_weights(
            [ArmParameters(c, a, b) for c, (a, b) in zip(exp.model_codes, counts, strict=True)],
            exp.exposure_floor,
        )
        now = stack.clock.now()
        stack.store.save_parameter_batch(
            ParameterBatch(
                experiment_id="EXP-01",
                batch_id="B-LIVE",
                window_start=datetime(2026, 1, 1),
                window_end=now,
                arms=tuple(
                    BatchArm(code, a, b, float(w), float(w))
                    for code, (a, b), w in zip(exp.model_codes, counts, weights, strict=True)
                ),
                warmup=False,
            )
        )
        time.sleep(3)
    finally:
        stack.stop()
    impressions = _impressions(tmp_path / "lake")
    dynamic = [e for e in impressions if e["experiment_id"] == "EXP-01"]
    static = [e for e in impressions if e["experiment_id"] == "EXP-02"]
    assert len(dynamic) > 100 and len(static) > 100
    # Every impression states its propensity; the static split is 5:5 and never batched.
    assert all(0.0 < e["propensity"] <= 1.0 for e in impressions)
    assert {(e.get("batch_id"), e["propensity"]) for e in static} == {(None, 0.5)}
    # The dynamic test: warm-up answers before the batch, the batch's weights after it.
    share = dict(zip(exp.model_codes, weights, strict=True))
    batched = [e for e in dynamic if e.get("batch_id") == "B-LIVE"]
    assert batched and len(batched) < len(dynamic)
    for e in batched:
        assert e["propensity"] == pytest.approx(share[e["model_code"]], abs=1e-12)
    before = [e for e in dynamic if e.get("batch_id") is None]
    warmup_share = dict(zip(exp.model_codes, exp.normalised_weights, strict=True))
    assert before and all(e["propensity"] == warmup_share[e["model_code"]] for e in before)
