"""``dynab init-db``: create dynab's collections' indexes in a production MongoDB (idempotent),
and roll up hourly metrics written before the daily roll-ups existed (services/mongo/rollups.py).

A deploy step (docs/deploy.md): the selector only reads and the console never creates indexes,
so a new database gets them here, once, and again after an upgrade that adds one. Creating an
index that exists is a no-op, so running it twice changes nothing.
"""

from __future__ import annotations

import argparse

from pymongo.errors import PyMongoError

from services.exceptions import StoreUnavailableError
from services.mongo import schema
from services.mongo.repository import connect
from services.mongo.rollups import ensure_all
from services.ops.job_runs import JOB_RUNS, JobRunLog
from services.secrets import read_secret


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "init-db",
        help="create the indexes of a MongoDB database (idempotent; a deploy step)",
        description="Create every index dynab's queries rely on in the MongoDB at MONGODB_URI "
        "(or the URI read from Secrets Manager / SSM). Safe to run again.",
    )
    source = p.add_mutually_exclusive_group()
    source.add_argument("--mongodb-uri", default=None, help="MongoDB URI (default: MONGODB_URI)")
    source.add_argument(
        "--mongodb-uri-secret", default=None, metavar="ARN", help="Secrets Manager secret"
    )
    source.add_argument(
        "--mongodb-uri-ssm", default=None, metavar="NAME", help="SSM SecureString parameter"
    )
    p.add_argument("--db", default=None, help="database (default: from the URI, else dynab)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    uri = args.mongodb_uri
    if args.mongodb_uri_secret or args.mongodb_uri_ssm:
        uri = read_secret(secret_id=args.mongodb_uri_secret, ssm_parameter=args.mongodb_uri_ssm)
    db = connect(uri, db_name=args.db, app_name="dynab-init-db")
    try:
        schema.ensure_indexes(db)
        JobRunLog(db).ensure_indexes()
        for collection in [*schema.INDEXES, JOB_RUNS]:
            names = sorted(i["name"] for i in db[collection].list_indexes() if i["name"] != "_id_")
            print(f"dynab init-db: {db.name}.{collection}: {', '.join(names)}")
        # Hourly metrics written before the daily roll-ups existed: rolled up once, here.
        rolled = ensure_all(db)
        print(
            f"dynab init-db: {db.name}.{schema.DAILY_METRICS}: rolled up {len(rolled)} "
            f"experiment(s) ({sum(rolled.values())} day(s)) written before roll-ups existed"
        )
    except PyMongoError as exc:
        raise StoreUnavailableError(f"cannot create the indexes in {db.name}: {exc}") from exc
    finally:
        db.client.close()
    return 0
