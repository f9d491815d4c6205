"""Benchmark of decisions under a daily click cycle: estimators, the decision rule, windows.

Prints, with the command that reruns each part:

1. False winners: two identical models (6.2 % vs 6.2 %), CTR ±60 % over the day, 1,500
   impressions an hour, 7 days, 400 seeds, bTS with a 24 h window and with cumulative counts,
   the bandit fed pooled or stratified counts: the share of tests the decision rule declares
   ``winner`` on the pooled and on the stratified estimates.
2. Bias and power: 6.7 % vs 5.8 % under the same cycle: the bias of the A - B estimate (pooled
   and stratified), and the time to a correct decision.
3. The seed's stationary scenario (no cycle): clicks lost by bTS relative to the static 5:5
   test, and the share of seeds that declare the right winner by the rule.
4. Evaluation window: 24 h sliding against cumulative over 30 days (100 seeds): clicks lost,
   the weaker model's traffic share on day 7 and day 30, stability, and under drift (the models
   swap at day 10).
5. Real physics: repeat visitors (3 requests per member, propensity spread 0.5), a 300 s answer
   cache and a job that goes live 10 minutes after the hour.
6. Rules compared: the same runs (parts 1 and 3) judged by other decision rules, to show why the
   default holds P(best) >= 0.95 for 18 consecutive hourly batches.

Run: ``.venv/bin/python benchmarks/bench_decision.py`` (a few minutes on 2 shared cores;
figures are exact for a given seed, timings depend on the machine's load).
"""

from __future__ import annotations

import sys
import time

from services.simulation import BatchedThompson, Scenario, StaticSplit, simulate
from services.simulation.evaluation import decision_rows, format_decisions, window_figures
from services.statistics.decision import DecisionRule, decision_path

HOURS = 7 * 24
CYCLE = 0.6


def _run(scenario: Scenario, algorithms: list) -> list:
    out = []
    for algorithm in algorithms:
        start = time.perf_counter()
        out.append(simulate(scenario, algorithm))
        print(
            f"  simulated {algorithm.label} in {time.perf_counter() - start:.0f} s", file=sys.stderr
        )
    return out


def _bandits() -> list[BatchedThompson]:
    return [
        BatchedThompson(window_hours=window, estimator=estimator)
        for window in (24, None)
        for estimator in ("pooled", "stratified")
    ]


def false_winners() -> list:
    scenario = Scenario(
        ctrs=(0.062, 0.062), hours=HOURS, n_seeds=400, seed=1, cycle_amplitude=CYCLE
    )
    print("1. Identical models 6.2% vs 6.2%, CTR +-60% over the day (peak 20:00), 1,500/h,")
    print("   7 days, 400 seeds; decision rule: defaults (services/statistics/decision.py)")
    print(
        "   rerun: dynab simulate --ctrs 0.062,0.062 --cycle-amplitude 0.6 --seeds 400 "
        "--algorithms bts --window-hours 24|0 --estimator pooled|stratified --seed 1\n"
    )
    results = _run(scenario, _bandits())
    print(format_decisions(decision_rows(results)))
    print()
    return results


def bias_and_power() -> None:
    scenario = Scenario(
        ctrs=(0.067, 0.058), hours=HOURS, n_seeds=400, seed=2, cycle_amplitude=CYCLE
    )
    print("2. 6.7% vs 5.8%, same cycle, 7 days, 400 seeds (bias = mean of estimate - truth of")
    print("   CTR_A - CTR_B over every seed and hour after warm-up, in percentage points)")
    print(
        "   rerun: dynab simulate --ctrs 0.067,0.058 --cycle-amplitude 0.6 --seeds 400 "
        "--algorithms static,bts --window-hours 24|0 --estimator pooled|stratified --seed 2\n"
    )
    results = _run(scenario, [StaticSplit((5, 5)), *_bandits()])
    print(format_decisions(decision_rows(results)))
    print()


def stationary() -> list:
    scenario = Scenario(ctrs=(0.067, 0.058), hours=HOURS, n_seeds=400, seed=0)
    print("3. The seed's stationary scenario: 6.7% vs 5.8%, no cycle, 1,500/h, 7 days, 400 seeds")
    print(
        "   rerun: dynab simulate --ctrs 0.067,0.058 --seeds 400 "
        "--algorithms static,bts --window-hours 24|0 --estimator stratified\n"
    )
    results = _run(
        scenario,
        [
            StaticSplit((5, 5)),
            BatchedThompson(estimator="stratified"),
            BatchedThompson(window_hours=None, estimator="stratified"),
        ],
    )
    static = results[0].regret[:, -1].mean()
    print(format_decisions(decision_rows(results)))
    for r in results[1:]:
        print(
            f"   {r.label}: loses {r.regret[:, -1].mean() / static:.0%} of static 5:5's clicks lost"
        )
    print()
    return results


def windows() -> None:
    print("4. Evaluation window, 6.7% vs 5.8%, cycle +-60%, 30 days, 100 seeds, bandit stratified;")
    print("   drift: the models swap CTRs at day 10 (hour 240)")
    print(
        "   rerun: dynab simulate --ctrs 0.067,0.058 --cycle-amplitude 0.6 --days 30 --seeds 100 "
        "--algorithms bts --window-hours 24|0 --estimator stratified [--drift 0.058,0.067@240]\n"
    )
    print(
        f"   {'scenario':<9}{'algorithm':<34}{'clicks lost':>12}{'weaker day 7':>14}"
        f"{'weaker day 30':>15}{'stability':>11}"
    )
    for label, extra in (
        ("steady", {}),
        ("drift", {"ctrs_after": (0.058, 0.067), "drift_hour": 240}),
    ):
        scenario = Scenario(
            ctrs=(0.067, 0.058),
            hours=30 * 24,
            n_seeds=100,
            seed=4,
            cycle_amplitude=CYCLE,
            **extra,
        )
        algorithms = [
            BatchedThompson(window_hours=24, estimator="stratified"),
            BatchedThompson(window_hours=None, estimator="stratified"),
        ]
        for r in _run(scenario, algorithms):
            f = window_figures(r)
            print(
                f"   {label:<9}{f.algorithm:<34}{f.regret:>12,.0f}{f.weaker_share[7]:>14.1%}"
                f"{f.weaker_share[30]:>15.1%}{f.stability:>11.4f}"
            )
    print()


def physics() -> None:
    print("5. Real physics: repeat visitors (3 per member, spread 0.5), 300 s cache, job +10 min;")
    print("   identical 6.2% models and 6.7% vs 5.8%, cycle +-60%, 7 days, 400 seeds")
    print(
        "   rerun: dynab simulate --ctrs 0.062,0.062 --cycle-amplitude 0.6 --repeat-visits 3 "
        "--member-spread 0.5 --cache-ttl 300 --job-latency 10 --seeds 400 --algorithms bts "
        "--estimator stratified\n"
    )
    for ctrs in ((0.062, 0.062), (0.067, 0.058)):
        scenario = Scenario(
            ctrs=ctrs,
            hours=HOURS,
            n_seeds=400,
            seed=5,
            cycle_amplitude=CYCLE,
            repeat_visits=3.0,
            member_spread=0.5,
            cache_ttl_seconds=300,
            job_latency_minutes=10,
        )
        results = _run(scenario, [BatchedThompson(estimator="stratified")])
        print(f"   CTRs {ctrs}")
        print(format_decisions(decision_rows(results)))
    print()


def rules(null: list, steady: list) -> None:
    print("6. Other rules on the same runs (bandit fed the stratified estimate, rule on it too):")
    print("   share of tests declared winner with identical models (part 1), and the share that")
    print("   declared the right winner in the stationary scenario (part 3)\n")
    candidates = [(0.95, 3), (0.95, 12), (0.95, 18), (0.95, 24), (0.97, 6), (0.99, 3)]
    runs = {
        "identical, 24 h": next(r for r in null if r.label == "bts 60m stratified"),
        "identical, cumulative": next(
            r for r in null if r.label == "bts 60m cumulative stratified"
        ),
        "stationary, 24 h": next(r for r in steady if r.label == "bts 60m stratified"),
        "stationary, cumulative": next(
            r for r in steady if r.label == "bts 60m cumulative stratified"
        ),
    }
    print(f"   {'rule':<22}" + "".join(f"{name:>24}" for name in runs))
    for p_best, batches in candidates:
        rule = DecisionRule(p_best, 0.01, batches)
        cells = []
        for name, r in runs.items():
            d = r.decisions["stratified"]
            status, _, arm, _ = decision_path(d.p_best, d.loss, d.control_ctr, d.live, rule)
            won = status == 2
            share = won.mean() if name.startswith("identical") else (won & (arm == 0)).mean()
            cells.append(f"{share:>24.1%}")
        print(f"   {f'P(best) {p_best:g}, {batches} batches':<22}" + "".join(cells))
    print()


def main() -> None:
    start = time.perf_counter()
    null = false_winners()
    bias_and_power()
    steady = stationary()
    windows()
    physics()
    rules(null, steady)
    print(f"(benchmark took {time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
