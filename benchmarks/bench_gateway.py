"""The local gateway's throughput on loopback, hit-heavy and miss-heavy, and its memory.

Figures only, no assertions. ``dynab gateway`` runs as its own process (as in use) against the
embedded MongoDB; a bounded load generator in this process sends a fixed number of requests
over keep-alive connections from a few threads. Hit-heavy: 50 members asked again and again
(their answers are cached after the first request). Miss-heavy: every request a new member
(cache size 1,000, so it also exercises eviction). RSS is the gateway process's resident memory
after each phase: it must not keep growing.

    .venv/bin/python benchmarks/bench_gateway.py
"""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
import tempfile
import threading
import time
from itertools import count
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from services.experiments import Area, Arm, Experiment, ExperimentType
from services.lifecycle import Action
from services.mongo.embedded import EmbeddedMongo, free_port
from services.mongo.repository import MongoStore, connect

ROOT = Path(__file__).resolve().parent.parent
THREADS = 4
REQUESTS = 4_000


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def load(port: int, members, total: int) -> tuple[float, dict[str, int]]:
    """Send ``total`` requests from THREADS threads; (requests/s, X-Cache/status counts)."""
    ticket = count()
    tally: dict[str, int] = {}
    lock = threading.Lock()

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        local: dict[str, int] = {}
        while (i := next(ticket)) < total:
            conn.request("GET", f"/select?member_id={members(i)}&area_code=MAIN")
            resp = conn.getresponse()
            resp.read()
            key = resp.getheader("X-Cache") if resp.status == 200 else str(resp.status)
            local[key] = local.get(key, 0) + 1
        conn.close()
        with lock:
            for k, v in local.items():
                tally[k] = tally.get(k, 0) + v

    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return total / (time.perf_counter() - t0), tally


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, EmbeddedMongo(Path(tmp) / "mongo") as server:
        store = MongoStore(connect(server.uri, db_name="bench"))
        store.ensure_indexes()
        store.save_area(Area("MAIN", "DEFAULT-01"))
        arms = (Arm("M-A", control=True), Arm("M-B"))
        store.create_experiment(
            Experiment("EXP-01", "bench", "MAIN", ExperimentType.DYNAMIC, arms), by="bench"
        )
        store.apply_action("EXP-01", Action.START, expected_version=1, by="bench")
        port = free_port()
        env = {**os.environ, "MONGODB_URI": server.uri, "MONGODB_DB": "bench"}
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "dynab.cli",
                "gateway",
                "--port",
                str(port),
                "--cache-size",
                "1000",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            for line in proc.stdout:  # type: ignore[union-attr]
                if "ready on" in line:
                    break
            print(f"{REQUESTS} requests per phase, {THREADS} client threads, keep-alive, loopback")
            print(f"start: gateway RSS {rss_mb(proc.pid):.1f} MB")
            phases = [
                ("hit-heavy", lambda i: i % 50),
                ("miss-heavy", lambda i, base=10_000: base + i),
                ("miss-heavy again", lambda i, base=20_000: base + i),
                ("hit-heavy again", lambda i: i % 50),
            ]
            for name, members in phases:
                rate, tally = load(port, members, REQUESTS)
                print(f"{name:<18}{rate:>8.0f} req/s  {tally}  RSS {rss_mb(proc.pid):.1f} MB")
        finally:
            proc.terminate()
            proc.wait(timeout=20)
        store.db.client.close()
    print("rerun: .venv/bin/python benchmarks/bench_gateway.py")


if __name__ == "__main__":
    main()
