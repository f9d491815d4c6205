"""The selector handler's warm path, and how often it reads MongoDB.

Figures only, no assertions. For 2 and 10 arms (dynamic test past warm-up, draw and sticky
modes), 10,000 events go through :func:`services.serving.handler.handle_event` -- validation,
the configuration cache, selection, the log record, the JSON response -- against the embedded
MongoDB. Each call is timed on its own; every MongoDB command is counted by a pymongo
CommandListener, so "reads" is exactly what reached the server.

    .venv/bin/python benchmarks/bench_selector.py
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from pymongo import MongoClient, monitoring

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from services.clock import FixedClock, SystemClock
from services.experiments import Area, Arm, Experiment, ExperimentType, ServingMode
from services.lifecycle import Action
from services.mongo.embedded import EmbeddedMongo
from services.mongo.repository import MongoStore
from services.parameters import BatchArm, ParameterBatch
from services.selection import clear_cache
from services.serving.config_cache import ConfigurationCache
from services.serving.handler import handle_event
from services.serving.observability import ListLog
from services.serving.service import SelectorService

REQUESTS = 10_000


class Reads(monitoring.CommandListener):
    def __init__(self) -> None:
        self.count = 0

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name in {"find", "aggregate", "count", "distinct", "getMore"}:
            self.count += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


def seed(store: MongoStore, area_code: str, n_arms: int, mode: ServingMode) -> None:
    store.save_area(Area(area_code, "DEFAULT-01"))
    arms = tuple(Arm(f"{area_code}-M{i}", control=(i == 0)) for i in range(n_arms))
    exp_id = f"EXP-{area_code.replace('_', '-').upper()}"
    exp = store.create_experiment(
        Experiment(exp_id, "bench", area_code, ExperimentType.DYNAMIC, arms, serving_mode=mode),
        by="bench",
    )
    store.apply_action(exp.experiment_id, Action.START, expected_version=1, by="bench")
    store.save_parameter_batch(
        ParameterBatch(
            exp.experiment_id,
            "B-1",
            store.clock.now(),
            store.clock.now(),
            tuple(
                BatchArm(a.model_code, 300 + 20 * i, 5000, None, 1 / n_arms)
                for i, a in enumerate(arms)
            ),
            warmup=False,
        )
    )


def run(service: SelectorService, area_code: str, reads: Reads) -> tuple[list[int], int]:
    handle_event({"member_id": "0", "area_code": area_code}, service)  # the cold load
    reads.count = 0
    times = []
    for m in range(REQUESTS):
        event = {"queryStringParameters": {"member_id": str(m), "area_code": area_code}}
        t0 = time.perf_counter_ns()
        result = handle_event(event, service)
        times.append(time.perf_counter_ns() - t0)
        assert result["statusCode"] == 200
    return times, reads.count


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, EmbeddedMongo(Path(tmp)) as server:
        reads = Reads()
        client: MongoClient = MongoClient(server.uri, event_listeners=[reads])
        setup_clock = FixedClock(SystemClock().now() - timedelta(days=2))
        store = MongoStore(client["bench"], setup_clock)
        store.ensure_indexes()
        cases = [(f"A{n}_{mode.value}", n, mode) for n in (2, 10) for mode in ServingMode]
        for area_code, n, mode in cases:
            seed(store, area_code, n, mode)
        live = MongoStore(client["bench"], SystemClock())
        print(f"{REQUESTS} requests per case through handle_event (refresh interval 30 s)")
        print(f"{'case':<16}{'median us':>10}{'p99 us':>10}{'reads':>7}{'loads':>7}  reason")
        for area_code, n, mode in cases:
            clear_cache()
            clock = SystemClock()
            cache = ConfigurationCache(live, clock, refresh_seconds=30)
            service = SelectorService(cache, clock, ListLog(limit=0))
            times, n_reads = run(service, area_code, reads)
            times.sort()
            answer = handle_event({"member_id": "1", "area_code": area_code}, service)
            reason = json.loads(answer["body"])["reason"]
            print(
                f"{f'{n} arms {mode.value}':<16}{statistics.median(times) / 1e3:>10.1f}"
                f"{times[int(0.99 * len(times))] / 1e3:>10.1f}{n_reads:>7}{cache.loads - 1:>7}"
                f"  {reason}"
            )
        client.close()
    print("reads: MongoDB read commands during the 10,000 warm requests; loads: cache reloads")
    print("rerun: .venv/bin/python benchmarks/bench_selector.py")


if __name__ == "__main__":
    main()
