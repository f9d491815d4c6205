"""``dynab simulate``: the simulation lab on the command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from services.exceptions import ValidationError
from services.simulation import Scenario, compare, format_table, summarise, summary_frame
from services.simulation.scenario import algorithm_named

DEFAULT_ALGORITHMS = "static,epsilon-greedy,ucb1,ts,bts"


def _floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(part) for part in text.replace(":", ",").split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected numbers separated by commas, got {text!r}"
        ) from None


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
    p.add_argument(
        "--impressions-per-hour",
        type=int,
        default=1500,
        help="requests per hour (default: %(default)s)",
    )
    p.add_argument("--days", type=float, default=7.0, help="horizon in days (default: 7)")
    p.add_argument("--seeds", type=int, default=200, help="replications (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
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
    p.add_argument("--epsilon", type=float, default=0.1, help="epsilon-greedy's rate")
    p.add_argument("--batch-minutes", type=int, default=60, help="bTS batch interval")
    p.add_argument(
        "--window-hours",
        type=int,
        default=24,
        help="bTS evaluation window; 0 = since the start (default: 24)",
    )
    p.add_argument("--warmup-hours", type=float, default=6.0, help="bTS warm-up hours")
    p.add_argument(
        "--warmup-min-impressions",
        type=int,
        default=1000,
        help="bTS impressions every arm needs before warm-up ends",
    )
    p.add_argument("--floor", type=float, default=0.0, help="bTS exposure floor per arm")
    p.add_argument(
        "--threshold",
        type=float,
        default=0.95,
        help="P(best) that declares a winner (default: %(default)s)",
    )
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
    rows = summarise(compare(scenario, algorithms, progress))
    print(format_table(rows))
    if args.csv is not None:
        summary_frame(rows).to_csv(args.csv, index=False)
        print(f"dynab simulate: wrote {args.csv}", file=sys.stderr)
    return 0
