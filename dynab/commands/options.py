"""Command-line options several ``dynab`` commands share."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from dynab.settings import Settings


def add_embedded_options(parser: argparse.ArgumentParser, settings: Settings) -> None:
    """``--data-dir`` and ``--mongo-port``: where the embedded MongoDB server keeps its data."""
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=settings.data_dir,
        help="embedded data folder (default: %(default)s, DYNAB_DATA_DIR)",
    )
    parser.add_argument(
        "--mongo-port",
        type=int,
        default=settings.mongo_port,
        help="embedded MongoDB port (default: %(default)s, DYNAB_MONGO_PORT)",
    )


#: A numeric option: (flag, type, default, what it is). The help adds the default.
NumberOption = tuple[str, Callable[[str], float], float | int, str]


def add_number_options(parser: argparse._ActionsContainer, *options: NumberOption) -> None:
    """Numeric options of one shape, e.g. ``("--seed", int, 0, "random seed")``."""
    for flag, kind, default, what in options:
        parser.add_argument(flag, type=kind, default=default, help=f"{what} (default: %(default)s)")


#: The seed of a seeded command (``simulate``, ``traffic``): same seed, same output.
SEED: NumberOption = ("--seed", int, 0, "random seed")


def add_history_option(parser: argparse.ArgumentParser) -> None:
    """``--history-days``: the demo's synthetic hourly history (``demo-data`` and ``run``)."""
    parser.add_argument(
        "--history-days",
        type=float,
        default=3,
        help="days of synthetic hourly history written for a demo experiment without any "
        "(0: none; default 3)",
    )
