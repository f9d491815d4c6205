"""``dynab report``: the decision report of one experiment, as Markdown or JSON."""

from __future__ import annotations

import argparse
import json

from services.mongo.repository import MongoStore, connect
from services.reports.decision import build_report, report_dict, report_markdown


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="print an experiment's decision report (Markdown, or JSON with --json)",
        description="Print the decision report of an experiment: per model impressions, clicks, "
        "pooled and hour-stratified CTR with 95% intervals, lift over the control, P(best), "
        "expected loss, the latest SRM check and data quality, and the decision status under "
        "the experiment's decision rule. Markdown by default, ready to paste into a ticket. "
        "See docs/statistics.md.",
    )
    p.add_argument("--experiment", required=True, metavar="EXP", help="experiment id, e.g. EXP-01")
    p.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    p.add_argument("--mongodb-uri", default=None, help="MongoDB URI (default: MONGODB_URI)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    store = MongoStore(connect(args.mongodb_uri))
    experiment = store.get_experiment(args.experiment)  # NotFoundError: one line, exit 1
    metrics = store.hourly_metrics(experiment.experiment_id)
    batches = store.parameter_history(experiment.experiment_id)
    report = build_report(experiment, metrics, batches)
    if args.json:
        print(json.dumps(report_dict(report), indent=2))
    else:
        print(report_markdown(report), end="")
    return 0
