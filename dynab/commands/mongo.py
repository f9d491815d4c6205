"""``dynab mongo``: the embedded MongoDB server alone, in the foreground."""

from __future__ import annotations

import argparse
import signal
import time
from pathlib import Path

from dynab.settings import Settings
from services.mongo.embedded import EmbeddedMongo
from services.mongo.repository import MongoStore, connect


def add_parser(sub: argparse._SubParsersAction) -> None:
    settings = Settings.from_env()
    p = sub.add_parser(
        "mongo",
        help="run the embedded MongoDB server (nx-27017) in the foreground",
        description="Run the embedded MongoDB wire-protocol server with its data under "
        "DATA_DIR/mongo, create dynab's indexes, and wait until Ctrl-C.",
    )
    p.add_argument(
        "--port",
        type=int,
        default=settings.mongo_port,
        help="port to listen on (default: %(default)s, DYNAB_MONGO_PORT)",
    )
    p.add_argument(
        "--data-dir",
        type=Path,
        default=settings.data_dir,
        help="data folder (default: %(default)s, DYNAB_DATA_DIR)",
    )
    p.set_defaults(func=run)


def start_embedded(data_dir: Path, port: int | None) -> EmbeddedMongo:
    """Start the server under ``data_dir/mongo`` and create the indexes."""
    server = EmbeddedMongo(data_dir=Path(data_dir) / "mongo", port=port).start()
    db = connect(server.uri)
    MongoStore(db).ensure_indexes()
    db.client.close()
    return server


def run(args: argparse.Namespace) -> int:
    server = start_embedded(args.data_dir, args.port)
    print(f"dynab mongo: listening on {server.uri} (data in {server.data_dir})", flush=True)
    print("dynab mongo: press Ctrl-C to stop", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        while server.running:
            time.sleep(0.5)
        print("dynab mongo: the server exited; see " + str(server.log_file), flush=True)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        server.stop()
        print("dynab mongo: stopped", flush=True)
