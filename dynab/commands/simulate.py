"""``dynab simulate``: the simulation lab on the command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dynab.commands.options import SEED, add_number_options
from services.exceptions import ValidationError
from services.simulation import Scenario, compare, format_table, summarise, summary_frame
from services.simulation.evaluation import decision_frame, decision_rows, format_decisions
from services.simulation.scenario import algorithm_named
from services.statistics.decision import DecisionRule

DEFAULT_ALGORITHMS = "static,epsilon-greedy,ucb1,ts,bts"


def _floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(part) for part in text.replace(":", ",").split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected numbers separated by commas, got {text!r}"
        ) from None


def _drift(text: str) -> tuple[tuple[float, ...], int]:
    ctrs, sep, hour = text.partition("@")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected CTRS@HOUR, e.g. 0.058,0.067@240, got {text!r}")
    try:
        return _floats(ctrs), int(hour)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected CTRS@HOUR, got {text!r}") from None


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "simulate",
        help="compare algorithms on a simulated experiment (many seeds at once)",
        description="Simulate an experiment under each algorithm and print, per algorithm, "
        "the clicks lost against always serving the best model (also relative to the static "
        "split), the weaker models' share of traffic, and how often and how fast the winner "
        "is identified at P(best) >= threshold. See docs/simulation.md.",
    )
    p.add_argument(
        "--ctrs",
        type=_floats,
        default=(0.067, 0.058),
        help="true CTR per model, comma-separated (default: 0.067,0.058)",
    )
    add_number_options(
        p,
        ("--impressions-per-hour", int, 1500, "requests per hour"),
        ("--days", float, 7.0, "horizon in days"),
        ("--seeds", int, 200, "replications"),
        SEED,
    )
    p.add_argument(
        "--algorithms",
        default=DEFAULT_ALGORITHMS,
        help="comma-separated, from static, epsilon-greedy, ucb1, ts, bts (default: all)",
    )
    p.add_argument(
        "--weights",
        type=_floats,
        default=None,
        help="static split and bTS warm-up split, e.g. 5:5 (default: even)",
    )
    add_number_options(
        p,
        ("--epsilon", float, 0.1, "epsilon-greedy's rate"),
        ("--batch-minutes", int, 60, "bTS batch interval"),
        ("--window-hours", int, 24, "bTS evaluation window; 0 = since the start"),
        ("--warmup-hours", float, 6.0, "bTS warm-up hours"),
        ("--warmup-min-impressions", int, 1000, "bTS impressions every arm needs to end warm-up"),
        ("--floor", float, 0.0, "bTS exposure floor per arm"),
        ("--threshold", float, 0.95, "P(best) that declares a winner"),
    )
    lab = p.add_argument_group("physics (docs/simulation.md)")
    lab.add_argument(
        "--cycle-amplitude",
        type=_floats,
        default=(0.0,),
        help="daily CTR cycle: 0.6 = +-60%%; one value, or one per model (default: none)",
    )
    lab.add_argument("--peak-hour", type=float, default=20.0, help="hour of the cycle's peak")
    lab.add_argument(
        "--repeat-visits", type=float, default=1.0, help="requests per member within an hour"
    )
    lab.add_argument(
        "--member-spread",
        type=float,
        default=0.0,
        help="coefficient of variation of members' click propensities (repeat visitors)",
    )
    lab.add_argument(
        "--cache-ttl", type=int, default=0, help="answer cache TTL in seconds, whole minutes"
    )
    lab.add_argument(
        "--job-latency", type=int, default=0, help="minutes after the hour a new batch goes live"
    )
    lab.add_argument(
        "--drift",
        type=_drift,
        default=None,
        help="CTRS@HOUR: the models' CTRs from that hour on, e.g. 0.058,0.067@240",
    )
    lab.add_argument(
        "--estimator",
        choices=("pooled", "stratified"),
        default="pooled",
        help="what feeds bTS's Beta: pooled counts or the hour-stratified estimate",
    )
    rule = p.add_argument_group("decision rule (docs/statistics.md)")
    defaults = DecisionRule()
    rule.add_argument("--rule-p-best", type=float, default=defaults.min_p_best)
    rule.add_argument("--rule-loss", type=float, default=defaults.max_loss_fraction)
    rule.add_argument("--rule-batches", type=int, default=defaults.consecutive_batches)
    p.add_argument("--csv", type=Path, default=None, help="also write the table to this CSV")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    hours = round(args.days * 24)
    scenario = Scenario(
        ctrs=args.ctrs,
        impressions_per_hour=args.impressions_per_hour,
        hours=hours,
        n_seeds=args.seeds,
        seed=args.seed,
        threshold=args.threshold,
        cycle_amplitude=args.cycle_amplitude[0]
        if len(args.cycle_amplitude) == 1
        else args.cycle_amplitude,
        peak_hour=args.peak_hour,
        repeat_visits=args.repeat_visits,
        member_spread=args.member_spread,
        cache_ttl_seconds=args.cache_ttl,
        job_latency_minutes=args.job_latency,
        ctrs_after=args.drift[0] if args.drift else None,
        drift_hour=args.drift[1] if args.drift else 0,
        rule=DecisionRule(args.rule_p_best, args.rule_loss, args.rule_batches),
    )
    algorithms = [
        algorithm_named(
            name,
            weights=args.weights,
            epsilon=args.epsilon,
            batch_minutes=args.batch_minutes,
            window_hours=args.window_hours or None,
            warmup_hours=args.warmup_hours,
            warmup_min_impressions=args.warmup_min_impressions,
            floor=args.floor,
            estimator=args.estimator,
        )
        for name in args.algorithms.split(",")
        if name.strip()
    ]
    if not algorithms:
        raise ValidationError("algorithms", "name at least one algorithm")

    def progress(label: str, done: int, total: int) -> None:
        if done % 24 == 0 or done == total:
            end = "\n" if done == total else ""
            print(f"\r  {label:<22} {done:>5}/{total} hours", end=end, file=sys.stderr, flush=True)

    print(
        f"dynab simulate: {len(algorithms)} algorithm(s), {scenario.n_seeds} seeds, "
        f"{hours} hours, {scenario.impressions_per_hour:,} impressions/hour, "
        f"CTRs {', '.join(f'{c:g}' for c in scenario.ctrs)}",
        file=sys.stderr,
    )
    results = compare(scenario, algorithms, progress)
    rows = summarise(results)
    print(format_table(rows))
    decisions = decision_rows(results)
    print(
        f"\nUnder the decision rule (P(best) >= {scenario.rule.min_p_best:g}, expected loss <= "
        f"{scenario.rule.max_loss_fraction:g} x control CTR, {scenario.rule.consecutive_batches} "
        "consecutive hourly batches), on all hours since the start:"
    )
    print(format_decisions(decisions))
    if args.csv is not None:
        summary_frame(rows).to_csv(args.csv, index=False)
        decisions_csv = args.csv.with_name(args.csv.stem + "-decisions.csv")
        decision_frame(decisions).to_csv(decisions_csv, index=False)
        print(f"dynab simulate: wrote {args.csv} and {decisions_csv}", file=sys.stderr)
    return 0
