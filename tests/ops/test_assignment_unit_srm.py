"""SRM of an experiment on its assignment unit, fed by a simulated day of real selections.

The selector (``select_model``) serves members who come back (a skewed visit frequency, as the
traffic generator's member model), the hourly metrics are built from its answers the way the
parameter job counts them (per batch id, and each member's first assignment), and parameter
batches are made with the job's own rules (``in_warmup``, ``probability_best``, ``apply_floor``)
and go live ten minutes after their hour, as on a real schedule.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import pytest

from services.algorithms.floor import apply_floor
from services.algorithms.warmup import in_warmup
from services.experiments import Arm, Experiment, ExperimentType, ServingMode, Status
from services.ops.split_check import assignment_unit, experiment_srm, weights_by_batch
from services.parameters import (
    ArmParameters,
    BatchArm,
    ParameterBatch,
    ParameterSnapshot,
    empty_snapshot,
)
from services.selection import clear_cache, select_model
from services.statistics import probability_best
from services.statistics.srm import UNKNOWN_BATCH, srm_by_batch

DAY = datetime(2026, 11, 28)
CODES = ("EXP-07-A", "EXP-07-B")
CTR = (0.07, 0.05)


@pytest.fixture(autouse=True)
def _fresh_plan_cache():
    clear_cache()
    yield
    clear_cache()


def make_experiment(**changes) -> Experiment:
    config = {
        "experiment_id": "EXP-07",
        "name": "srm day",
        "area_code": "main",
        "type": ExperimentType.DYNAMIC,
        "arms": tuple(Arm(code, weight=1.0, control=(i == 0)) for i, code in enumerate(CODES)),
        "warmup_hours": 6.0,
        "warmup_min_impressions": 200,
        "serving_mode": ServingMode.DRAW,
        "status": Status.RUNNING,
        "started_at": DAY.replace(hour=10, minute=30),
        "exposure_floor": 0.05,
    }
    config.update(changes)
    return Experiment(**config)


@dataclass
class Day:
    rows: list[dict] = field(default_factory=list)
    batches: list[ParameterBatch] = field(default_factory=list)
    reasons: dict[str | None, set[str]] = field(default_factory=lambda: defaultdict(set))


def simulate_day(
    experiment: Experiment,
    *,
    hours: int = 24,
    per_hour: int = 1500,
    members: int = 3000,
    seed: int = 0,
    cache_ttl: int = 0,
) -> Day:
    """A day of the selector and the job; ``cache_ttl`` seconds of answer cache per member (as
    API Gateway's: a member's views within the TTL of a selector call get its answer)."""
    rng = np.random.default_rng(seed)
    visit = np.arange(1, members + 1) ** -0.8
    visit /= visit.sum()
    start = experiment.started_at
    assert start is not None
    day = Day()
    live: ParameterSnapshot = empty_snapshot(experiment.experiment_id, CODES)
    pending: tuple[datetime, ParameterSnapshot] | None = None
    first_seen: set[str] = set()
    cached: dict[int, tuple[datetime, object]] = {}
    clicks_by_hour: dict[datetime, np.ndarray] = {}
    imps_by_hour: dict[datetime, np.ndarray] = {}
    hour = start.replace(minute=0)
    for _ in range(hours):
        counts: dict[tuple[str, str], int] = defaultdict(int)
        first: dict[tuple[str, str], int] = defaultdict(int)
        viewed: set[tuple[int, str]] = set()
        views: dict[tuple[str, str], int] = defaultdict(int)
        imps, clicks = np.zeros(2, int), np.zeros(2, int)
        offsets = np.sort(rng.integers(0, 3600, per_hour))
        for offset, m in zip(offsets, rng.choice(members, per_hour, p=visit), strict=True):
            now = hour + timedelta(seconds=int(offset))
            if now < start:
                continue
            if pending is not None and now >= pending[0]:
                live, pending = pending[1], None
            hit = cached.get(m)
            if hit is not None and now < hit[0]:
                got = hit[1]
            else:
                got = select_model(experiment, live, f"M{m:05d}", now, rng)
                if cache_ttl:
                    cached[m] = (now + timedelta(seconds=cache_ttl), got)
            model, batch = got.model_code, got.batch_id or UNKNOWN_BATCH
            if (m, batch) not in viewed:  # the member's first view under this batch this hour
                viewed.add((m, batch))
                views[(model, batch)] += 1
            day.reasons[got.batch_id].add(str(got.reason))
            counts[(model, batch)] += 1
            if f"M{m:05d}" not in first_seen:
                first_seen.add(f"M{m:05d}")
                first[(model, batch)] += 1
            imps[got.arm_index] += 1
            clicks[got.arm_index] += rng.random() < CTR[got.arm_index]
        for code in CODES:
            day.rows.append(
                {
                    "experiment_id": experiment.experiment_id,
                    "model_code": code,
                    "hour": hour,
                    "impressions_by_batch": {b: n for (c, b), n in counts.items() if c == code},
                    "first_members_by_batch": {b: n for (c, b), n in first.items() if c == code},
                    "first_views_by_batch": {b: n for (c, b), n in views.items() if c == code},
                }
            )
        imps_by_hour[hour], clicks_by_hour[hour] = imps, clicks
        hour += timedelta(hours=1)
        # The job: the batch ending at this hour, over a 24 h window, live 10 minutes later.
        window = [h for h in imps_by_hour if h >= hour - timedelta(hours=24)]
        n = sum(imps_by_hour[h] for h in window)
        c = sum(clicks_by_hour[h] for h in window)
        batch_id = f"{hour:%Y%m%dT%H%M}"
        params = tuple(
            ArmParameters(code, int(ci), int(ni - ci))
            for code, ci, ni in zip(CODES, c, n, strict=True)
        )
        snap = ParameterSnapshot(experiment.experiment_id, batch_id, params, warmup=True)
        warm_up = in_warmup(experiment, snap, hour)
        p_best = probability_best([1 + p.alpha for p in params], [1 + p.beta for p in params])
        weights = (
            np.array(experiment.normalised_weights)
            if warm_up
            else apply_floor(p_best / p_best.sum(), experiment.exposure_floor)
        )
        goes_live = hour + timedelta(minutes=10)
        batch = ParameterBatch(
            experiment.experiment_id,
            batch_id,
            hour - timedelta(hours=24),
            hour,
            tuple(
                BatchArm(p.model_code, p.alpha, p.beta, float(pb), float(w))
                for p, pb, w in zip(params, p_best, weights, strict=True)
            ),
            warmup=warm_up,
            created_at=goes_live,
        )
        day.batches.append(batch)
        pending = (goes_live, batch.snapshot())
    return day


@pytest.mark.parametrize("mode", [ServingMode.DRAW, ServingMode.STICKY])
def test_a_test_started_at_half_past_has_a_clean_srm_day(mode: ServingMode) -> None:
    # GIVEN a dynamic test started 10:30 with 6 h of warm-up, batches live at hh:10
    experiment = make_experiment(serving_mode=mode)
    day = simulate_day(experiment, seed=1)
    # THEN the selector served the warm-up split under every warm-up batch (including the one
    # of 16:00, in force when the clock passed 16:30) and bandit weights only under warm ones
    warmup_batches = {b.batch_id for b in day.batches if b.warmup}
    assert "20261128T1600" in warmup_batches
    assert "20261128T1700" not in warmup_batches
    for batch_id, reasons in day.reasons.items():
        assert reasons == (
            {"warmup"} if batch_id is None or batch_id in warmup_batches else {"bts"}
        )
    # AND the day's SRM check on the assignment unit is clean
    check = experiment_srm(experiment, day.rows, day.batches)
    assert check.unit == assignment_unit(experiment)
    assert check.total > 1000 and check.excluded == 0
    assert not check.mismatch, check


def test_a_skewed_selector_is_caught_on_the_same_day() -> None:
    # GIVEN the same day, but 10 % of arm B's first assignments lost (a broken arm)
    experiment = make_experiment(serving_mode=ServingMode.STICKY)
    day = simulate_day(experiment, seed=1, per_hour=2000, members=40_000)
    assert not experiment_srm(experiment, day.rows, day.batches).mismatch
    for row in day.rows:
        if row["model_code"] == CODES[1]:
            row["first_members_by_batch"] = {
                b: int(n * 0.9) for b, n in row["first_members_by_batch"].items()
            }
    assert experiment_srm(experiment, day.rows, day.batches).mismatch


def test_the_unit_follows_the_type_and_serving_mode() -> None:
    assert assignment_unit(make_experiment(type=ExperimentType.STATIC)) == "members"
    assert assignment_unit(make_experiment(serving_mode=ServingMode.STICKY)) == "members"
    assert assignment_unit(make_experiment(serving_mode=ServingMode.DRAW)) == "draws"


def test_a_cached_draw_mode_test_is_clean_on_draws_not_on_impressions() -> None:
    # GIVEN a draw-mode day behind a 300 s answer cache, with heavy repeat visitors: each
    # selector draw is repeated to the member's views within the TTL
    experiment = make_experiment(serving_mode=ServingMode.DRAW)
    honest = [
        simulate_day(experiment, seed=s, per_hour=6000, members=400, cache_ttl=300)
        for s in range(4)
    ]
    # WHEN checked on draws (each member's first view under a batch) THEN no honest day flags
    checks = [experiment_srm(experiment, d.rows, d.batches) for d in honest]
    assert {c.unit for c in checks} == {"draws"}
    assert not [c.p_value for c in checks if c.mismatch]
    # AND on the clustered impressions the same days flag (what the draws fix)
    on_impressions = [
        srm_by_batch(
            d.rows,
            CODES,
            unit="impressions",
            weights_by_batch=weights_by_batch(d.batches),
            unbatched_weights=dict(zip(CODES, experiment.normalised_weights, strict=True)),
            unbatched_before=min(b.created_at for b in d.batches),
        )
        for d in honest
    ]
    # (seeded: one of the four days flags at p ~ 5e-9, and the mean chi-square is inflated)
    assert any(c.mismatch for c in on_impressions), [c.p_value for c in on_impressions]
    mean_chi2 = sum(c.chi2 for c in on_impressions) / len(on_impressions)
    assert mean_chi2 > 2 * sum(c.chi2 for c in checks) / len(checks)
    # AND rows counted before draws were fall back to impressions
    for row in honest[0].rows:
        row.pop("first_views_by_batch")
    assert experiment_srm(experiment, honest[0].rows, honest[0].batches).unit == "impressions"


def test_a_static_test_with_repeat_visitors_is_clean_on_members_not_on_impressions() -> None:
    # GIVEN a static 5:5 test placed by the real member hash, 60,000 visits by 2,000 members
    # with a heavy visit skew WHEN counted THEN distinct members pass, impressions do not.
    experiment = make_experiment(type=ExperimentType.STATIC)
    rng = np.random.default_rng(4)
    visit = np.arange(1, 2001) ** -1.0
    picks = rng.choice(2000, 60_000, p=visit / visit.sum())
    impressions: dict[str, int] = defaultdict(int)
    members: dict[str, set[str]] = defaultdict(set)
    for m in picks:
        got = select_model(experiment, empty_snapshot("EXP-07", CODES), f"M{m:05d}", DAY, rng)
        impressions[got.model_code] += 1
        members[got.model_code].add(f"M{m:05d}")
    rows = [
        {
            "model_code": code,
            "hour": DAY,
            "impressions_by_batch": {UNKNOWN_BATCH: impressions[code]},
            "first_members_by_batch": {UNKNOWN_BATCH: len(members[code])},
        }
        for code in CODES
    ]
    check = experiment_srm(experiment, rows)
    assert (check.unit, check.mismatch) == ("members", False)
    split = dict(zip(CODES, (0.5, 0.5), strict=True))
    assert srm_by_batch(rows, CODES, unit="impressions", split=split).mismatch
