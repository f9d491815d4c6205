"""``dynab traffic``: generate event logs (impressions, clicks, orders) into a folder or S3."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime

from dynab.commands.options import SEED, add_number_options
from dynab.settings import Settings
from services.events import EventLogWriter
from services.exceptions import ValidationError
from services.traffic import ArmSpec, HourTraffic, TrafficConfig, generate


def _arm(text: str) -> ArmSpec:
    parts = text.split(":")
    if len(parts) not in (4, 5, 6):
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected EXPERIMENT:AREA:MODEL:CTR[:ORDER_RATE[:WEIGHT]]"
        )
    try:
        numbers = [float(p) for p in parts[3:]]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: CTR, order rate and weight are numbers"
        ) from None
    try:
        return ArmSpec(parts[0], parts[1], parts[2], *numbers)
    except ValidationError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from None


def _hour(text: str) -> datetime:
    from spark.update_params import parse_hour

    try:
        return parse_hour(text)
    except ValidationError as exc:
        raise argparse.ArgumentTypeError(exc.message) from None


def demo_arms() -> tuple[ArmSpec, ...]:
    """The demo experiments' arms with their true rates, at their configured split."""
    from dynab.demo import EXPERIMENTS, TRUE_RATES

    return tuple(
        ArmSpec(e.experiment_id, e.area_code, a.model_code, *TRUE_RATES[a.model_code], a.weight)
        for e in EXPERIMENTS
        for a in e.arms
    )


def add_parser(sub: argparse._SubParsersAction) -> None:
    settings = Settings.from_env()
    p = sub.add_parser(
        "traffic",
        help="generate event logs (impressions, clicks, orders)",
        description="Generate seeded, reproducible event logs under "
        "ROOT/dt=YYYY-MM-DD/hour=HH/ for the parameter-update job. Arms come from --demo "
        "(the demo experiments and their true rates) or from --arm options.",
    )
    p.add_argument(
        "--out",
        default=str(settings.data_dir / "events"),
        help="ROOT folder or s3://bucket/prefix (default: %(default)s)",
    )
    p.add_argument("--demo", action="store_true", help="the demo experiments' arms")
    p.add_argument(
        "--arm",
        type=_arm,
        action="append",
        default=[],
        metavar="EXP:AREA:MODEL:CTR[:ORDER[:WEIGHT]]",
        help="an arm (repeatable)",
    )
    p.add_argument("--start", type=_hour, required=True, help="first hour, e.g. 2026-11-28T00")
    add_number_options(
        p,
        ("--hours", int, 24, "hours"),
        ("--requests-per-hour", int, 10_000, "impressions per hour"),
        ("--members", int, 50_000, "member population"),
        SEED,
        ("--duplicates", float, 0.0, "share of events sent twice"),
        ("--orphans", float, 0.0, "orphan clicks as a share of clicks"),
        ("--malformed", float, 0.0, "share of malformed lines"),
        ("--late", float, 0.0, "share of clicks later than one hour"),
    )
    p.add_argument("--gzip", action="store_true", help="write .jsonl.gz parts")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    arms = (demo_arms() if args.demo else ()) + tuple(args.arm)
    if not arms:
        raise ValidationError("arm", "give --demo or at least one --arm")
    config = TrafficConfig(
        arms=arms,
        start=args.start,
        hours=args.hours,
        requests_per_hour=args.requests_per_hour,
        members=args.members,
        seed=args.seed,
        duplicate_share=args.duplicates,
        orphan_click_share=args.orphans,
        malformed_share=args.malformed,
        late_click_share=args.late,
    )

    def progress(done: int, total: int, hour: HourTraffic) -> None:
        print(
            f"\rdynab traffic: hour {done}/{total} ({hour.hour:%Y-%m-%d %H:00}), "
            f"{len(hour.events):,} events",
            end="",
            file=sys.stderr,
            flush=True,
        )

    with EventLogWriter(args.out, gzip=args.gzip, writer_id=f"s{args.seed}") as writer:
        summary = generate(config, writer, progress=progress)
    print(file=sys.stderr)
    counts = ", ".join(f"{k} {v:,}" for k, v in summary.counts.items())
    print(
        f"dynab traffic: {summary.lines:,} lines in {len(writer.files_written)} files "
        f"under {args.out} ({counts})"
    )
    return 0
