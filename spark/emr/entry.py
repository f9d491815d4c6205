"""The parameter job's entry point on EMR: read the MongoDB URI from a secret, then run the job.

``spark-submit ... entry.py --mongodb-uri-secret ARN --input s3://... [job arguments]``

The URI (with its password) never appears in the step's arguments or in Spark's configuration,
which EMR's DescribeStep and YARN's UI show to anyone allowed to look at the cluster: the step
names a Secrets Manager secret (``--mongodb-uri-secret``) or an SSM SecureString parameter
(``--mongodb-uri-ssm``), and the driver reads it with the cluster's instance role. The URI is put
in the driver's own environment (``MONGODB_URI``), where the job looks for it; executors never
talk to MongoDB. Before the job runs, the database's indexes are ensured (idempotent).

Every other argument goes to :func:`spark.update_params.main` unchanged.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence


def parse(argv: Sequence[str] | None) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(
        prog="entry.py",
        description=__doc__.splitlines()[0],
        add_help=False,
        allow_abbrev=False,
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--mongodb-uri-secret", metavar="ARN", help="Secrets Manager secret")
    source.add_argument("--mongodb-uri-ssm", metavar="NAME", help="SSM SecureString parameter")
    parser.add_argument(
        "--secrets-region", default=None, help="region of the secret (default: the cluster's)"
    )
    args, rest = parser.parse_known_args(argv)
    if "--mongodb-uri" in rest or any(a.startswith("--mongodb-uri=") for a in rest):
        parser.error(
            "--mongodb-uri would put the password in the step's arguments; store the URI in "
            "Secrets Manager or SSM and pass --mongodb-uri-secret or --mongodb-uri-ssm"
        )
    return args, rest


def main(argv: Sequence[str] | None = None) -> int:
    from services.mongo.repository import connect
    from services.mongo.schema import ensure_indexes
    from services.secrets import SecretUnavailableError, read_secret
    from spark import update_params

    args, rest = parse(sys.argv[1:] if argv is None else argv)
    if args.mongodb_uri_secret or args.mongodb_uri_ssm:
        try:
            os.environ["MONGODB_URI"] = read_secret(
                secret_id=args.mongodb_uri_secret,
                ssm_parameter=args.mongodb_uri_ssm,
                timeout_seconds=10.0,
                region_name=args.secrets_region,
                endpoint_url=os.environ.get("AWS_ENDPOINT_URL") or None,
            )
        except SecretUnavailableError as exc:
            print(f"update_params: error: {exc}", file=sys.stderr)
            return 2
    if "-h" not in rest and "--help" not in rest:
        db = connect()
        try:
            ensure_indexes(db)
        finally:
            db.client.close()
    return update_params.main(rest)


if __name__ == "__main__":
    sys.exit(main())
