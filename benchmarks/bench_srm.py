"""False alarms and power of the SRM check, on the assignment unit and on impressions.

Run: .venv/bin/python benchmarks/bench_srm.py [--tests 1000] [--members 20000]
     [--impressions 36000] [--skew 0.8] [--seed 0]

Honest static 5:5 tests with the traffic generator's member model: every impression picks a
member from ``members`` with probability proportional to ``rank ** -skew`` (repeat visitors), and
the test places each member by a hash. Each test is checked at alpha = 0.001 on

* members: distinct members per arm (each member's first assignment) -- the unit the test
  randomised, what ``services.ops.split_check.experiment_srm`` counts for static and sticky tests;
* impressions: impressions per arm -- what the check counted before.

The defaults are the demo's DETAIL test over a 24 h window (1,500 page views an hour, 20,000
members). Then:

* the same honest tests through the real path on a subset: the member hash
  (``services.hashing.unit_hash``) instead of a uniform draw, and hourly-metric documents with
  ``first_members_by_batch`` fed to ``experiment_srm`` -- same verdicts as the vectorised counts;
* draw mode: impressions per batch against each batch's weights, with weights moving hour by
  hour as a bandit's do and batches going live 10 minutes after the hour -- judged by the batch
  each impression was served under, and (for contrast) by the weights of the batch that ended
  at the hour's start, as if it were in force for the whole hour;
* power: the share of tests flagged when the split is really off, at 100,000 members, against
  the non-central chi-square's exact power.

Everything is vectorised with numpy; the figures are Monte Carlo estimates with a 95 % Wilson
interval. It reports figures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from scipy import stats

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ALPHA = 0.001
CHUNK_CELLS = 2_000_000  # tests x members per chunk: ~16 MB of int64


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson interval of a proportion k / n."""
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def rate(flags: np.ndarray) -> str:
    k, n = int(flags.sum()), int(flags.size)
    lo, hi = wilson(k, n)
    return f"{k / n:7.2%}  ({k:>4} of {n}; 95 % CI {lo:.2%} .. {hi:.2%})"


def chi2_p(observed: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """Pearson's goodness-of-fit p-value per row (tests x arms), K - 1 degrees of freedom."""
    chi2 = ((observed - expected) ** 2 / expected).sum(axis=1)
    return stats.chi2.sf(chi2, observed.shape[1] - 1)


def visit_probabilities(members: int, skew: float) -> np.ndarray:
    weights = np.arange(1, members + 1, dtype=float) ** -skew
    return weights / weights.sum()


def honest_static(
    rng: np.random.Generator, tests: int, members: int, impressions: int, skew: float
) -> tuple[np.ndarray, np.ndarray, float]:
    """p-values (members, impressions) of honest 5:5 tests; and the mean distinct members."""
    p = visit_probabilities(members, skew)
    chunk = max(1, CHUNK_CELLS // members)
    p_members, p_impressions, distinct = [], [], []
    for start in range(0, tests, chunk):
        k = min(chunk, tests - start)
        visits = rng.multinomial(impressions, p, size=k)  # (k, members)
        in_a = rng.random((k, members)) < 0.5  # a uniform hash places each member
        seen = visits > 0
        members_a = (seen & in_a).sum(axis=1)
        members_b = seen.sum(axis=1) - members_a
        imps_a = (visits * in_a).sum(axis=1)
        obs_m = np.column_stack([members_a, members_b]).astype(float)
        obs_i = np.column_stack([imps_a, impressions - imps_a]).astype(float)
        p_members.append(chi2_p(obs_m, obs_m.sum(axis=1, keepdims=True) * 0.5))
        p_impressions.append(chi2_p(obs_i, obs_i.sum(axis=1, keepdims=True) * 0.5))
        distinct.append(seen.sum(axis=1))
    return (
        np.concatenate(p_members),
        np.concatenate(p_impressions),
        float(np.concatenate(distinct).mean()),
    )


def real_path(
    rng: np.random.Generator, tests: int, members: int, impressions: int, skew: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The real member hash and ``experiment_srm`` on hourly documents, for a few tests.

    Returns the p-values of ``experiment_srm`` (members), of the same counts by scipy, and of
    impressions, per test.
    """
    from services.experiments import Arm, Experiment, ExperimentType
    from services.hashing import unit_hash
    from services.ops.split_check import experiment_srm

    codes = ("LF001-01", "NCF-02")
    p = visit_probabilities(members, skew)
    hours = 24
    per_hour = np.full(hours, impressions // hours)
    per_hour[: impressions - per_hour.sum()] += 1
    mine, reference, by_impressions = [], [], []
    for t in range(tests):
        experiment = Experiment(
            experiment_id="EXP-02",
            name="bench",
            area_code="DETAIL",
            type=ExperimentType.STATIC,
            arms=(Arm(codes[0], weight=5, control=True), Arm(codes[1], weight=5)),
            salt=f"bench-{t}",
        )
        visits = np.array([rng.multinomial(n, p) for n in per_hour])  # (hours, members)
        seen = visits.sum(axis=0) > 0
        first_hour = np.argmax(visits > 0, axis=0)
        ids = np.flatnonzero(seen)
        arm = np.array([unit_hash(f"M{m:07d}", experiment.hash_salt) >= 0.5 for m in ids], int)
        start = datetime(2026, 11, 28)
        rows = []
        for i, code in enumerate(codes):
            mask = arm == i
            firsts = np.bincount(first_hour[ids[mask]], minlength=hours)
            imps = visits[:, ids[mask]].sum(axis=1)
            for h in range(hours):
                rows.append(
                    {
                        "experiment_id": "EXP-02",
                        "model_code": code,
                        "hour": start + timedelta(hours=h),
                        "impressions_by_batch": {f"{h:02d}": int(imps[h])},
                        "first_members_by_batch": {f"{h:02d}": int(firsts[h])},
                    }
                )
        check = experiment_srm(experiment, rows)
        counts = np.bincount(arm, minlength=2)
        imps_total = np.array([visits[:, ids[arm == i]].sum() for i in range(2)])
        mine.append(check.p_value)
        reference.append(stats.chisquare(counts).pvalue)
        by_impressions.append(stats.chisquare(imps_total).pvalue)
    return np.array(mine), np.array(reference), np.array(by_impressions)


def draw_mode(
    rng: np.random.Generator, tests: int, per_hour: int, hours: int = 24, live_minute: int = 10
) -> tuple[np.ndarray, np.ndarray]:
    """p-values of honest draw-mode tests: per batch (right) and top-of-the-hour (wrong).

    Each test's arm-A weight walks from 0.5 towards a random end in [0.05, 0.95] over the day,
    one batch per hour; a batch goes live ``live_minute`` minutes after its hour, so each hour
    is served first by the previous batch, then by its own.
    """
    ends = rng.uniform(0.05, 0.95, tests)
    steps = np.linspace(0.0, 1.0, hours + 1)
    w = 0.5 + (ends[:, None] - 0.5) * steps[None, :]  # (tests, hours + 1): batch b's weight
    early = rng.binomial(per_hour, live_minute / 60, size=(tests, hours))
    late = per_hour - early
    # Early in hour h the batch of hour h - 1 serves (w[:, h]); then the batch of hour h
    # (w[:, h + 1]). Impressions are drawn per request: binomial per (test, batch part).
    a_early = rng.binomial(early, w[:, :hours])
    a_late = rng.binomial(late, w[:, 1 : hours + 1])
    obs_a = (a_early + a_late).sum(axis=1)
    total = hours * per_hour
    observed = np.column_stack([obs_a, total - obs_a]).astype(float)
    exp_a = (early * w[:, :hours] + late * w[:, 1 : hours + 1]).sum(axis=1)
    right = chi2_p(observed, np.column_stack([exp_a, total - exp_a]))
    # Wrong: every impression of hour h judged by the batch that ended at h's start.
    exp_wrong = (per_hour * w[:, :hours]).sum(axis=1)
    wrong = chi2_p(observed, np.column_stack([exp_wrong, total - exp_wrong]))
    return right, wrong


def power(
    rng: np.random.Generator, tests: int, members: int, share_a: float
) -> tuple[np.ndarray, float]:
    """Flags of tests whose true split is ``share_a`` : 1 - share_a, judged against 5:5."""
    a = rng.binomial(members, share_a, size=tests)
    observed = np.column_stack([a, members - a]).astype(float)
    flags = chi2_p(observed, np.full_like(observed, members / 2)) < ALPHA
    # Exact power: Pearson's statistic is close to non-central chi-square(1, lambda).
    lam = members * ((share_a - 0.5) ** 2 / 0.5 + (0.5 - share_a) ** 2 / 0.5)
    critical = stats.chi2.isf(ALPHA, 1)
    return flags, float(stats.ncx2.sf(critical, 1, lam))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=1000, help="honest tests per figure")
    parser.add_argument("--members", type=int, default=20_000, help="member population")
    parser.add_argument("--impressions", type=int, default=36_000, help="impressions per test")
    parser.add_argument("--skew", type=float, default=0.8, help="visit frequency ~ rank^-skew")
    parser.add_argument("--real-tests", type=int, default=100, help="tests through the real path")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    command = (
        f".venv/bin/python benchmarks/bench_srm.py --tests {args.tests} --members {args.members} "
        f"--impressions {args.impressions} --skew {args.skew} --real-tests {args.real_tests} "
        f"--seed {args.seed}"
    )
    print(f"SRM check at alpha = {ALPHA}: {command}")
    started = time.perf_counter()

    p_m, p_i, distinct = honest_static(rng, args.tests, args.members, args.impressions, args.skew)
    print(
        f"\nHonest static 5:5 tests, {args.impressions:,} impressions by a population of "
        f"{args.members:,} members (skew {args.skew}; {distinct:,.0f} distinct members a test, "
        f"{args.impressions / distinct:.2f} impressions each):"
    )
    print(f"  false alarms counting members      {rate(p_m < ALPHA)}")
    print(f"  false alarms counting impressions  {rate(p_i < ALPHA)}")

    if args.real_tests:
        mine, reference, by_imps = real_path(
            rng, args.real_tests, args.members, args.impressions, args.skew
        )
        print(
            f"\nThe real path on {args.real_tests} honest tests (member hash unit_hash, hourly "
            "documents, experiment_srm):"
        )
        print(f"  false alarms (experiment_srm, members)  {rate(mine < ALPHA)}")
        print(f"  false alarms (impressions)              {rate(by_imps < ALPHA)}")
        print(
            "  largest |p - scipy.stats.chisquare p| on the same member counts: "
            f"{np.max(np.abs(mine - reference)):.1e}"
        )

    per_hour = args.impressions // 24
    right, wrong = draw_mode(rng, args.tests, per_hour)
    print(
        f"\nHonest draw-mode tests, {per_hour:,} impressions an hour for 24 h, weights moving "
        "every hour, batches live 10 minutes after the hour:"
    )
    print(f"  false alarms, each impression vs its batch's weights  {rate(right < ALPHA)}")
    print(f"  false alarms, every hour vs the top-of-hour weights   {rate(wrong < ALPHA)}")

    print("\nPower at 100,000 members (a static 5:5 test whose split is really off):")
    for label, share in (
        ("1 pp off (50.5 : 49.5)", 0.505),
        ("one arm loses 1 % of its members", 0.5 / 0.995),
        ("1 % imbalance (51 : 49)", 0.51),
    ):
        flags, exact = power(rng, args.tests, 100_000, share)
        print(f"  {label:<34} {rate(flags)}; exact {exact:.2%}")

    print(f"\n{time.perf_counter() - started:.1f} s (2 shared cores; timings are noisy)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
