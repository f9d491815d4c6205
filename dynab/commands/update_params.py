"""``dynab update-params``: the parameter-update Spark job in local mode."""

from __future__ import annotations

import argparse
import sys

from dynab.settings import Settings
from services.clock import utc_now


def add_parser(sub: argparse._SubParsersAction) -> None:
    from spark.update_params import add_arguments

    settings = Settings.from_env()
    p = sub.add_parser(
        "update-params",
        help="run the parameter-update job (Spark local mode; needs Java 17+)",
        description="Read the event logs of the evaluation window, write hourly metrics and "
        "a parameter batch per running experiment to MongoDB. See docs/parameter-update.md.",
    )
    add_arguments(p)
    p.set_defaults(input=str(settings.data_dir / "events"))
    for action in p._actions:
        if action.dest == "input":
            action.required = False
            action.help = f"event log ROOT (default: {settings.data_dir / 'events'})"
    p.add_argument("--master", default="local[2]", help="Spark master (default: %(default)s)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from services.mongo.repository import MongoStore, connect
    from spark.session import local_session
    from spark.update_params import run_update, settings_from_args

    settings = Settings.from_env()
    uri = args.mongodb_uri or settings.mongodb_uri or f"mongodb://127.0.0.1:{settings.mongo_port}/"
    job = settings_from_args(args, utc_now())

    def say(message: str) -> None:
        print(f"dynab update-params: {message}", file=sys.stderr, flush=True)

    say(f"starting Spark ({args.master}) for the batch ending {job.batch_end:%Y-%m-%d %H:00}")
    spark = local_session(args.master)
    db = connect(uri)
    try:
        store = MongoStore(db)
        store.ping()
        report = run_update(spark, store, job, progress=say)
    finally:
        db.client.close()
        spark.stop()
    print(f"dynab update-params: {report.summary()}")
    return 0
