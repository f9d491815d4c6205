"""``dynab demo-data``: create the demo areas and experiments."""

from __future__ import annotations

import argparse

from dynab.commands.options import add_history_option
from dynab.demo import install_demo
from services.mongo.repository import MongoStore, connect


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo-data",
        help="create the demo areas and experiments (idempotent)",
        description="Create the demo areas (MAIN, DETAIL, CART) and experiments (EXP-01 "
        "dynamic, EXP-02 static 5:5) in the MongoDB at MONGODB_URI, start them, and give each "
        "one without data three days of synthetic hourly history (a daily cycle).",
    )
    p.add_argument("--mongodb-uri", default=None, help="MongoDB URI (default: MONGODB_URI)")
    p.add_argument("--no-start", action="store_true", help="leave the experiments as drafts")
    add_history_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    store = MongoStore(connect(args.mongodb_uri))
    store.ensure_indexes()
    result = install_demo(store, start=not args.no_start, history_days=args.history_days)
    print(f"dynab demo-data: created {', '.join(result.created) or 'nothing (already there)'}")
    if result.started:
        print(f"dynab demo-data: started {', '.join(result.started)}")
    return 0
