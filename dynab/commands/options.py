"""Command-line options several ``dynab`` commands share."""

from __future__ import annotations

import argparse
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
