"""False-alarm rate of every guardrail rule on honest simulated tests, and the CTR rule's power.

Run: .venv/bin/python benchmarks/bench_guardrails.py [--tests 400] [--hours 48] [--seed 0]
     [--hourly-impressions 1500] [--rates demo|equal]

Each honest test is one experiment with no broken model, simulated hour by hour for ``hours``
hours; the guardrails are judged after every hour of the last 24 (24 hourly batches, each with
full windows), with the default :class:`~services.guardrails.rules.GuardrailRules`:

* traffic: ``hourly-impressions`` an hour (Poisson) with a daily cycle (x0.5 at night to x1.5 in
  the evening), the CTR following the cycle too (x0.8 to x1.2); the shares of the arms move hour
  by hour as a bandit's do (Dirichlet around an uneven split), so the stratified estimates are
  needed; clicks ~ Binomial(n, ctr), orders ~ Binomial(clicks, order_rate / ctr);
* rates: ``equal`` -- three identical models (CTR 5 %, orders 0.3 %); ``demo`` -- the demo's
  EXP-01 (APS002 control 6.7 % / 0.40 %, NCF 5.8 % / 0.38 %);
* CTR collapse and orders guard: the production functions (``stratified_moments``,
  ``probability_ratio_below``) on the windows, vectorised over tests;
* split integrity: each batch's impressions Multinomial(n, weights) against its weights,
  chi-square at 0.001, alarm after ``srm_batches`` in a row;
* data quality: duplicates (0.2 % of events), orphan clicks (0.2 % of clicks) and malformed
  lines (0.1 %) as the demo's generator makes them, judged by the production ``evaluate`` on the
  counts the job hands it (``lines``, ``events``, ``clicks`` beside the counts: rates relative
  to volume, with the ``min_volume`` gate);
* serving health: fallbacks 0.2 % and 5xx 0.05 % of requests (assumed honest levels), judged by
  the production ``evaluate`` on a ``ServingHealth``.

The largest rate seen over all tests and batches (those with ``min_volume`` for the data-quality
rates) is printed beside each limit: the headroom.

A rule's false-alarm rate is the share of tests in which it fired at least once in 24 batches
(95 % Wilson interval). Then the power: one model's CTR drops to 1 % and the batches until the
CTR rule switches it off. Figures only; the machine is shared, so timings are noisy.
"""

from __future__ import annotations

import argparse
import time
from datetime import datetime

import numpy as np
from scipy import stats

from services.experiments import Arm, Experiment, ExperimentType, Status
from services.guardrails.evaluate import (
    Rule,
    ServingHealth,
    data_quality_rates,
    evaluate,
    probability_ratio_below,
)
from services.guardrails.rules import GuardrailRules
from services.statistics.stratified import stratified_moments

RATES = {
    "equal": ((0.05, 0.003), (0.05, 0.003), (0.05, 0.003)),
    "demo": ((0.067, 0.004), (0.058, 0.0038)),
}


def wilson(k: int, n: int) -> tuple[float, float]:
    if n == 0:
        return (0.0, 1.0)
    z = 1.96
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def simulate(rng, tests, hours, per_hour, rates, drop_at=None):
    """Counts of shape (tests, hours, K): impressions, clicks, orders, and the served weights."""
    k = len(rates)
    ctr = np.array([r[0] for r in rates])
    order = np.array([r[1] for r in rates])
    hour_of_day = np.arange(hours) % 24
    cycle = 1.0 + 0.5 * np.sin(2 * np.pi * (hour_of_day - 14) / 24)
    ctr_cycle = 1.0 + 0.2 * np.sin(2 * np.pi * (hour_of_day - 15) / 24)
    total = rng.poisson(per_hour * cycle, size=(tests, hours))
    base = np.linspace(1.5, 0.5, k)
    weights = rng.dirichlet(20 * base / base.sum(), size=(tests, hours))
    imps = rng.multinomial(total, weights)
    p = np.broadcast_to(ctr * ctr_cycle[:, None], (tests, hours, k)).copy()
    if drop_at is not None:
        p[:, drop_at:, 1] = 0.01
    clicks = rng.binomial(imps, np.clip(p, 0, 1))
    orders = rng.binomial(clicks, np.clip(order / ctr, 0, 1))
    return imps, clicks, orders, weights


#: The batch end handed to ``evaluate`` for the data-quality and serving rules (no hourly rows).
END = datetime(2026, 11, 28, 0)


def honest_experiment(k: int) -> Experiment:
    """A running experiment of ``k`` arms, for the production rules that need one."""
    return Experiment(
        experiment_id="BENCH",
        name="honest",
        area_code="MAIN",
        type=ExperimentType.DYNAMIC,
        arms=tuple(Arm(f"M{i}", "", 1.0, control=i == 0) for i in range(k)),
        status=Status.RUNNING,
        started_at=END,
    )


def rate_rule(imps, clicks, window, end, margin, probability, min_n):
    """(tests, K-1) booleans: each non-control arm tripped at the batch ending at ``end``."""
    n = imps[:, end - window : end]
    c = clicks[:, end - window : end]
    ctr, _var, neff = stratified_moments(n, c)
    alpha, beta = ctr * neff, (1 - ctr) * neff
    prob = probability_ratio_below(
        1 + alpha[:, 1:], 1 + beta[:, 1:], 1 + alpha[:, :1], 1 + beta[:, :1], 1 - margin
    )
    enough = (n.sum(axis=1)[:, 1:] >= min_n) & (n.sum(axis=1)[:, :1] >= min_n)
    return (prob >= probability) & enough & (ctr[:, :1] > 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=400)
    parser.add_argument("--hours", type=int, default=48)
    parser.add_argument("--hourly-impressions", type=int, default=1500)
    parser.add_argument("--rates", choices=sorted(RATES), default="equal")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--rule",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a default rule, e.g. --rule ctr_window_hours=2 (repeatable)",
    )
    args = parser.parse_args()
    overrides = {}
    for item in args.rule:
        name, _, value = item.partition("=")
        overrides[name] = float(value) if "." in value else int(value)
    rules = GuardrailRules(**overrides)
    rng = np.random.default_rng(args.seed)
    t0 = time.perf_counter()
    rates = RATES[args.rates]
    imps, clicks, orders, weights = simulate(
        rng, args.tests, args.hours, args.hourly_impressions, rates
    )
    batches = range(args.hours - 24 + 1, args.hours + 1)
    fired: dict[str, np.ndarray] = {
        name: np.zeros(args.tests, dtype=bool)
        for name in ("ctr_collapse", "orders_guard", "split_integrity", "data_quality", "serving")
    }
    streak = np.zeros(args.tests, dtype=int)
    largest: dict[str, float] = {}
    honest = honest_experiment(len(rates))
    for end in batches:
        fired["ctr_collapse"] |= rate_rule(
            imps,
            clicks,
            rules.ctr_window_hours,
            end,
            rules.ctr_margin,
            rules.ctr_probability,
            rules.min_impressions,
        ).any(axis=1)
        fired["orders_guard"] |= rate_rule(
            imps,
            orders,
            min(rules.orders_window_hours, end),
            end,
            rules.orders_margin,
            rules.orders_probability,
            rules.orders_min_impressions,
        ).any(axis=1)
        n = imps[:, end - 1]
        expected = weights[:, end - 1] * n.sum(axis=1, keepdims=True)
        chi2 = ((n - expected) ** 2 / np.maximum(expected, 1e-12)).sum(axis=1)
        p_value = stats.chi2.sf(chi2, df=n.shape[1] - 1)
        streak = np.where(p_value < 0.001, streak + 1, 0)
        fired["split_integrity"] |= streak >= rules.srm_batches
        events = n.sum(axis=1) + clicks[:, end - 1].sum(axis=1) + orders[:, end - 1].sum(axis=1)
        c = clicks[:, end - 1].sum(axis=1)
        dup = rng.binomial(events, 0.002)
        orphan = rng.binomial(c, 0.002)
        bad = rng.binomial(events, 0.001)
        requests = n.sum(axis=1)
        fallbacks = rng.binomial(requests, 0.002)
        errors = rng.binomial(requests, 0.0005)
        for i in range(args.tests):
            counts = {
                "duplicate_events": int(dup[i]),
                "orphan_clicks": int(orphan[i]),
                "malformed_lines": int(bad[i]),
                "lines": int(events[i] + dup[i] + orphan[i]),
                "events": int(events[i]),
                "clicks": int(c[i]),
            }
            serving = ServingHealth(int(requests[i]), int(fallbacks[i]), int(errors[i]))
            rules_fired = {
                a.rule
                for a in evaluate(
                    honest, [], end=END, data_quality=counts, serving=serving, rules=rules
                )
            }
            fired["data_quality"][i] |= Rule.DATA_QUALITY in rules_fired
            fired["serving"][i] |= Rule.SERVING_HEALTH in rules_fired
            rates_seen = data_quality_rates(
                counts, events=counts["events"], clicks=counts["clicks"]
            )
            rates_seen["fallback_share"] = fallbacks[i] / max(requests[i], 1)
            rates_seen["5xx_share"] = errors[i] / max(requests[i], 1)
            judged = counts["lines"] + counts["malformed_lines"] >= rules.min_volume
            for name, value in rates_seen.items():
                if value is not None and (judged or name.endswith("_share")):
                    largest[name] = max(largest.get(name, 0.0), float(value))
    seconds = time.perf_counter() - t0
    print(
        f"Honest tests: {args.tests} x 24 hourly batches, rates {args.rates} {rates}, "
        f"~{args.hourly_impressions} impressions/hour ({seconds:.1f} s)\nrules: "
        + ", ".join(f"{k}={v}" for k, v in rules.to_dict().items())
    )
    print(f"{'rule':<16} {'tests fired':>11} {'rate':>8}  95 % interval")
    for name, hit in fired.items():
        k = int(hit.sum())
        lo, hi = wilson(k, args.tests)
        print(f"{name:<16} {k:>11} {k / args.tests:>8.2%}  [{lo:.2%}, {hi:.2%}]")
    limits = {
        "malformed_rate": rules.max_malformed_rate,
        "orphan_rate": rules.max_orphan_rate,
        "duplicate_rate": rules.max_duplicate_rate,
        "fallback_share": rules.max_fallback_share,
        "5xx_share": rules.max_5xx_share,
    }
    print(
        "largest rate seen in any honest batch (limit): "
        + ", ".join(
            f"{name} {largest.get(name, 0.0):.2%} ({limit:.1%})" for name, limit in limits.items()
        )
    )
    # Power: model 1's CTR drops to 1 % at hour 30; batches until the CTR rule fires.
    drop = 30
    imps, clicks, _, _ = simulate(
        rng, args.tests, args.hours, args.hourly_impressions, rates, drop_at=drop
    )
    caught = np.full(args.tests, -1)
    for end in range(drop + 1, args.hours + 1):
        hit = rate_rule(
            imps,
            clicks,
            rules.ctr_window_hours,
            end,
            rules.ctr_margin,
            rules.ctr_probability,
            rules.min_impressions,
        )[:, 0]
        caught = np.where((caught < 0) & hit, end - drop, caught)
    within2 = float(np.mean((caught > 0) & (caught <= 2)))
    print(
        f"Power: one model's CTR drops to 1 %: switched off within 2 batches in {within2:.1%} of "
        f"tests; median batches {np.median(caught[caught > 0]) if (caught > 0).any() else 'n/a'}; "
        f"never within {args.hours - drop} batches: {int((caught < 0).sum())}"
    )
    print(
        "Rerun: .venv/bin/python benchmarks/bench_guardrails.py "
        f"--tests {args.tests} --hours {args.hours} --hourly-impressions "
        f"{args.hourly_impressions} --rates {args.rates} --seed {args.seed}"
        + "".join(f" --rule {r}" for r in args.rule)
    )


if __name__ == "__main__":
    main()
