"""The ``dynab`` command: one entry point, one subcommand per job.

Errors that dynab raises on purpose are printed as one line and exit with status 2 (bad input)
or 1 (anything else that stopped the command, such as a MongoDB that does not answer); Ctrl-C
exits with 130.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from pymongo.errors import ConnectionFailure, PyMongoError

from services.exceptions import DynabError, ValidationError

#: subcommand -> module in dynab.commands exposing ``add_parser(subparsers)`` and ``run(args)``
COMMANDS: dict[str, str] = {
    "run": "run",
    "mongo": "mongo",
    "init-db": "init_db",
    "demo-data": "demo_data",
    "traffic": "traffic",
    "update-params": "update_params",
    "gateway": "gateway",
    "simulate": "simulate",
    "report": "report",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dynab",
        description="Dynamic A/B testing of recommendation models.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_name in COMMANDS.values():
        module = importlib.import_module(f"dynab.commands.{module_name}")
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        parser = build_parser()  # the defaults come from the environment
    except ValidationError as exc:
        print(f"dynab: error: {exc}", file=sys.stderr)
        return 2
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("dynab: interrupted", file=sys.stderr)
        return 130
    except ValidationError as exc:
        print(f"dynab {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except DynabError as exc:
        print(f"dynab {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except PyMongoError as exc:
        print(f"dynab {args.command}: error: {mongo_error_line(exc)}", file=sys.stderr)
        return 1


def mongo_error_line(exc: PyMongoError) -> str:
    """One line for a MongoDB failure (pymongo's own message runs to a topology dump)."""
    message = " ".join(str(exc).split())
    for cut in (" (configured timeouts:", ", Timeout:", ", full error:"):
        message = message.split(cut)[0]
    if len(message) > 300:
        message = message[:297] + "..."
    if isinstance(exc, ConnectionFailure):  # ServerSelectionTimeoutError, AutoReconnect, ...
        return f"MongoDB does not answer ({type(exc).__name__}: {message}); is it running?"
    return f"MongoDB refused the operation ({type(exc).__name__}: {message})"


if __name__ == "__main__":
    raise SystemExit(main())
