"""The embedded stack behind ``dynab run``: every flow of dynab on one machine, no cloud.

Processes and threads:

* the embedded MongoDB server (a child process; data under ``DATA_DIR/mongo``);
* the local API gateway (a thread serving HTTP on 127.0.0.1), on the shared demo clock;
* the demo traffic (a thread): the traffic generator's requests go through the gateway over HTTP
  at the pace of the demo clock, and each finished hour of events is written to the local lake
  ``DATA_DIR/lake/dt=.../hour=...``;
* the parameter job (a thread keeping ONE SparkSession alive): after every finished hour it runs
  the batch ending at that hour and records the run;
* the console (a ``streamlit run`` child process).

The demo clock is accelerated (``speed`` simulated seconds per real second) and shared: every
component gets the same :class:`AcceleratedClock`, and the console gets its epoch through the
environment. The simulated time is saved in MongoDB every few seconds, so a second ``dynab run``
resumes where the first stopped instead of jumping ahead by the time it was off.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import queue
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import numpy as np
from pymongo.database import Database
from pymongo.errors import PyMongoError

from dynab.demo import TRUE_RATES, install_demo
from dynab.processes import start_console, stop_process, wait_http_ok
from services.clock import AcceleratedClock, floor_hour, utc_now
from services.events.layout import hours_between, partition_dir
from services.events.writer import EventLogWriter
from services.exceptions import DynabError
from services.experiments import Experiment, Status
from services.gateway import schema as gateway_schema
from services.gateway.cache import TtlCache
from services.gateway.recorder import GatewayRecorder
from services.gateway.server import SelectorGateway
from services.hashing import local_member_hash_key
from services.mongo.embedded import EmbeddedMongo, free_port
from services.mongo.repository import MongoStore, connect
from services.ops.job_runs import JobRun, JobRunLog
from services.serving.config_cache import ConfigurationCache
from services.serving.service import SelectorService
from services.serving.settings import ServingSettings
from services.traffic.config import ArmSpec, TrafficConfig
from services.traffic.generator import Choice, generate_hour, write_hour

log = logging.getLogger("dynab.stack")

RUNTIME = "runtime"
CLOCK_DOC = "demo_clock"

Say = Callable[[str], None]


class StopRequested(Exception):
    """Raised inside the traffic loop when the stack is stopping."""


class StackFailed(DynabError):
    """A component of the running stack failed; the message lists what went wrong."""


@dataclass
class StackOptions:
    """How to run the embedded stack.

    Attributes:
        data_dir: Embedded data: ``mongo/``, ``lake/``, ``logs/``.
        mongo_port / gateway_port / console_port: None picks a free port.
        speed: Simulated seconds per real second (60: one simulated hour per real minute).
        requests_per_hour: Demo page views per simulated hour over all areas.
        members: Size of the demo member population.
        seed: Seed of the demo traffic and of the selector's draws.
        gateway_ttl: The gateway cache's TTL in simulated seconds.
        console: Start the console (off for headless tests of the other flows).
        job: Run the parameter job after every simulated hour (needs Java).
        demo: Create the demo areas and experiments if missing.
        history_days: Days of synthetic hourly history written for a demo experiment without
            any data, ending at the demo clock's hour (``dynab run``: 3, as ``dynab demo-data``).
        traffic: Drive demo traffic through the gateway.
        true_rates: The demo models' true (click, order) rates; the demo's own by default.
        demo_overrides: Changes applied to the demo experiments when they are created.
        secrets_files: Streamlit secrets files of the console (its users).
    """

    data_dir: Path
    mongo_port: int | None = None
    gateway_port: int | None = None
    console_port: int | None = None
    mongodb_uri: str | None = None
    speed: float = 60.0
    requests_per_hour: int = 3000
    members: int = 20_000
    seed: int = 0
    gateway_ttl: int = 300
    console: bool = True
    job: bool = True
    demo: bool = True
    history_days: float = 0.0
    traffic: bool = True
    true_rates: dict[str, tuple[float, float]] = field(default_factory=lambda: dict(TRUE_RATES))
    demo_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    secrets_files: tuple[Path, ...] = ()


def load_clock(db: Database, speed: float) -> AcceleratedClock:
    """The demo clock, continuing from the simulated time saved by the last run."""
    doc = db[RUNTIME].find_one({"_id": CLOCK_DOC})
    start = doc["sim_now"] if doc else floor_hour(utc_now())
    return AcceleratedClock(sim_epoch=start, real_epoch=time.time(), speed=speed)


def save_clock(db: Database, clock: AcceleratedClock) -> None:
    # A whole-document replace: the embedded server stores a datetime given to $set as a string.
    doc = {"_id": CLOCK_DOC, "sim_now": clock.now()}
    if db[RUNTIME].replace_one({"_id": CLOCK_DOC}, doc).matched_count == 0:
        db[RUNTIME].insert_one(doc)


def clock_environment(clock: AcceleratedClock) -> dict[str, str]:
    """What another process needs to follow the same clock (see dynab.settings)."""
    return {
        "DYNAB_SIM_EPOCH": clock.sim_epoch.isoformat(),
        "DYNAB_REAL_EPOCH": repr(clock.real_epoch),
        "DYNAB_CLOCK_SPEED": repr(clock.speed),
    }


class _GatewayClient:
    """A keep-alive HTTP client of the local gateway for the demo traffic."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn: http.client.HTTPConnection | None = None

    def select(self, member_id: str, area_code: str) -> dict[str, Any]:
        path = "/select?" + urlencode({"member_id": member_id, "area_code": area_code})
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            try:
                self.conn.request("GET", path)
                resp = self.conn.getresponse()
                body = resp.read()
                return {"status": resp.status, **json.loads(body)}
            except (OSError, http.client.HTTPException):
                self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


class Stack:
    """Start, watch and stop the embedded stack. ``start()`` returns once every part is up."""

    def __init__(self, options: StackOptions, say: Say | None = None) -> None:
        self.options = options
        self.say: Say = say or (lambda message: log.info(message))
        self.mongo: EmbeddedMongo | None = None
        self.console: subprocess.Popen[bytes] | None = None
        self.gateway: SelectorGateway | None = None
        self.recorder: GatewayRecorder | None = None
        self.db: Database | None = None
        self.store: MongoStore | None = None
        self.clock: AcceleratedClock | None = None
        self.uri = options.mongodb_uri or ""
        self.console_port: int | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._batches: queue.Queue[datetime] = queue.Queue()
        self.errors: list[str] = []
        self.hours_done = 0
        self.batches_done = 0
        self.requests_sent = 0

    # --- start -----------------------------------------------------------------------------

    def start(self) -> Stack:
        opts = self.options
        data_dir = Path(opts.data_dir)
        if not self.uri:
            self.say(f"starting the embedded MongoDB server (data in {data_dir / 'mongo'})")
            self.mongo = EmbeddedMongo(data_dir=data_dir / "mongo", port=opts.mongo_port).start()
            self.uri = self.mongo.uri
        self.db = connect(self.uri, timeout_ms=3000)
        self.clock = load_clock(self.db, opts.speed)
        self.store = MongoStore(self.db, self.clock)
        self.store.ensure_indexes()
        gateway_schema.ensure_indexes(self.db)
        self.say(
            f"demo clock at {self.clock.now():%Y-%m-%d %H:%M} UTC, "
            f"{opts.speed:g}x (one simulated hour every {3600 / opts.speed:g} s)"
        )
        if opts.demo:
            # As ``dynab demo-data``: a demo experiment without any data gets days of synthetic
            # hourly history ending at the demo clock's hour, so that charts show days at once.
            result = install_demo(
                self.store,
                overrides=opts.demo_overrides,
                history_days=opts.history_days,
                now=self.clock.now(),
            )
            self.say(f"demo data: created {', '.join(result.created) or 'nothing new'}")
        self._start_gateway()
        self._spawn(self._clock_saver, "dynab-clock")
        if opts.job:
            self._start_job()
        if opts.traffic:
            self._spawn(self._traffic, "dynab-traffic")
        if opts.console:
            self._start_console()
        return self

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        def guarded() -> None:
            try:
                target()
            except StopRequested:
                pass
            except Exception as exc:
                message = f"{name} failed: {type(exc).__name__}: {exc}"
                log.exception(message)
                self.errors.append(message)
                self._stop.set()

        thread = threading.Thread(target=guarded, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _start_gateway(self) -> None:
        assert self.db is not None and self.store is not None and self.clock is not None
        # The selector's settings from the environment, as ``dynab gateway`` reads them
        # (DYNAB_CONFIG_REFRESH_SECONDS, DYNAB_STORE_RETRY_SECONDS, DYNAB_AREA_DEFAULTS...).
        serving = ServingSettings.from_env(
            os.environ, member_hash_key=local_member_hash_key(Path(self.options.data_dir))
        )
        self.recorder = GatewayRecorder(self.db, self.clock).start()
        cache = ConfigurationCache(
            self.store,
            self.clock,
            refresh_seconds=serving.refresh_seconds,
            retry_seconds=serving.retry_seconds,
        )
        service = SelectorService(
            cache, self.clock, self.recorder, serving, rng=np.random.default_rng(self.options.seed)
        )
        responses: TtlCache = TtlCache(self.clock, ttl_seconds=self.options.gateway_ttl)
        port = self.options.gateway_port or free_port()
        try:
            self.gateway = SelectorGateway(("127.0.0.1", port), service, responses, self.recorder)
        except OSError as exc:
            raise DynabError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror}") from None
        self.gateway.start_background()
        self.say(f"local API gateway on {self.gateway.url}?member_id=M&area_code=A")

    def _start_job(self) -> None:
        from spark.session import local_session

        self.say("starting Spark (local mode) for the parameter job; kept alive between batches")
        self.spark = local_session("local[2]", shuffle_partitions=4, driver_memory="1g")
        self._spawn(self._job, "dynab-parameter-job")

    def _start_console(self) -> None:
        assert self.clock is not None
        port = self.options.console_port or free_port()
        self.console = start_console(
            self.uri,
            port,
            Path(self.options.data_dir) / "logs",
            list(self.options.secrets_files),
            clock_environment(self.clock),
        )
        self.say(f"console on http://localhost:{port}")
        wait_http_ok(f"http://127.0.0.1:{port}/_stcore/health", self.console)
        self.console_port = port

    # --- the demo traffic ------------------------------------------------------------------

    def _active_experiments(self) -> list[Experiment]:
        assert self.store is not None
        return self.store.list_experiments(statuses=[Status.RUNNING, Status.PAUSED])

    def _traffic(self) -> None:

        assert self.clock is not None and self.gateway is not None
        lake = Path(self.options.data_dir) / "lake"
        # A fresh writer id per run: a restart must never overwrite the files of an earlier run.
        writer = EventLogWriter(lake)
        client = _GatewayClient(self.gateway.server_address[1])
        resumed_at = self.clock.now()
        hour = floor_hour(resumed_at)
        rates = self.options.true_rates
        try:
            while not self._stop.is_set():
                arms = tuple(
                    ArmSpec(
                        e.experiment_id,
                        e.area_code,
                        arm.model_code,
                        ctr=rates.get(arm.model_code, (0.05, 0.0))[0],
                        order_rate=rates.get(arm.model_code, (0.05, 0.0))[1],
                    )
                    for e in self._active_experiments()
                    for arm in e.arms
                )
                if not arms:
                    self._wait_until(hour + timedelta(hours=1))
                    hour += timedelta(hours=1)
                    continue
                config = TrafficConfig(
                    arms=arms,
                    start=hour,
                    hours=1,
                    requests_per_hour=self.options.requests_per_hour,
                    members=self.options.members,
                    seed=self.options.seed + int(hour.timestamp()) // 3600,
                    late_click_share=0.01,
                    duplicate_share=0.002,
                    orphan_click_share=0.002,
                    malformed_share=0.001,
                )

                def choose(member_id: str, area_code: str, ts: datetime) -> Choice:
                    if ts < resumed_at:  # the part of the hour before a restart is not replayed
                        return None, None
                    try:
                        self._wait_until(ts)
                    except StopRequested:  # page views after the stop never happen
                        return None, None
                    answer = client.select(member_id, area_code)
                    self.requests_sent += 1
                    if answer.get("status") != 200:
                        return None, None
                    # The impression logs the batch and propensity the answer was chosen with.
                    return (
                        answer.get("experiment_id"),
                        answer.get("model_code"),
                        answer.get("batch_id"),
                        answer.get("propensity"),
                    )

                traffic = generate_hour(config, 0, choose)
                # Written even when the stack is stopping: the page views served so far in this
                # hour are kept, and a restart continues the hour after them.
                write_hour(traffic, writer)
                writer.flush()
                if self._stop.is_set():
                    return
                self.hours_done += 1
                hour += timedelta(hours=1)
                self._wait_until(hour)
                self._batches.put(hour)
        finally:
            client.close()

    def _wait_until(self, moment: datetime) -> None:
        assert self.clock is not None
        while True:
            if self._stop.is_set():
                raise StopRequested
            ahead = (moment - self.clock.now()).total_seconds() / self.clock.speed
            if ahead <= 0:
                return
            time.sleep(min(ahead, 0.5))

    # --- the parameter job -----------------------------------------------------------------

    def pending_batches(self, now: datetime) -> list[datetime]:
        """Batch ends to run again on start: an hour the job began but did not finish (a stop
        cut the batch short) or an hour of the lake it never processed, within two days."""
        assert self.store is not None

        lake = Path(self.options.data_dir) / "lake"
        end = floor_hour(now)
        since = end - timedelta(hours=48)
        records = self.store.job_hours(since, end)
        if not records:
            return []
        first = min(records)
        out = []
        for hour in hours_between(first, end):
            status = (records.get(hour) or {}).get("status")
            if status == "running" or (
                status not in ("done", "empty") and (lake / partition_dir(hour)).is_dir()
            ):
                out.append(hour + timedelta(hours=1))
        return out

    def _job(self) -> None:
        from spark.update_params import JobSettings, run_update

        assert self.store is not None and self.db is not None and self.clock is not None
        runs = JobRunLog(self.db)
        lake = str(Path(self.options.data_dir) / "lake")
        for batch_end in self.pending_batches(self.clock.now()):
            self.say(f"parameter job: re-running the batch ending {batch_end:%Y-%m-%d %H:00}")
            self._batches.put(batch_end)
        while not self._stop.is_set():
            try:
                batch_end = self._batches.get(timeout=0.5)
            except queue.Empty:
                continue
            # Every batch runs, in order: a batch costs its new hour, and skipping one would
            # leave a gap in the parameter history.
            # Stamped on the demo clock, like the batch they compute; the log line says real time.
            started, real_start = self.clock.now(), time.monotonic()
            error = None
            report = None
            try:
                report = run_update(
                    self.spark, self.store, JobSettings(lake, batch_end, lease_wait_seconds=60)
                )
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}".splitlines()[0]
                log.exception("parameter job failed for batch %s", batch_end)
            finished, real_seconds = self.clock.now(), time.monotonic() - real_start
            if report is None:
                from spark.update_params import JobReport

                report = JobReport(batch_end=batch_end)
            runs.record(
                JobRun.from_report(report, started_at=started, finished_at=finished, error=error)
            )
            self.batches_done += 1
            self.say(
                f"parameter job: batch ending {batch_end:%Y-%m-%d %H:00} "
                + (f"failed: {error}" if error else f"done in {real_seconds:.0f} s")
            )

    def _clock_saver(self) -> None:
        assert self.db is not None and self.clock is not None
        while not self._stop.wait(2.0):
            try:
                save_clock(self.db, self.clock)
            except PyMongoError as exc:
                # A busy MongoDB is no reason to stop the stack: the next save catches up.
                log.warning("could not save the demo clock (next try in 2 s): %s", exc)

    # --- watch and stop --------------------------------------------------------------------

    def healthy(self) -> bool:
        if self._stop.is_set() or self.errors:
            return False
        if self.mongo is not None and not self.mongo.running:
            self.errors.append("the embedded MongoDB server exited")
            return False
        if self.console is not None and self.console.poll() is not None:
            self.errors.append(f"the console exited with code {self.console.returncode}")
            return False
        return True

    def wait_for(
        self, *, hours: int = 0, batches: int = 0, timeout: float | None = None, poll: float = 0.5
    ) -> bool:
        """Block until ``hours`` simulated hours are served and ``batches`` job batches have run.

        Returns False if ``timeout`` real seconds pass first; raises :class:`StackFailed` with the
        stack's errors as soon as a component fails.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.hours_done < hours or self.batches_done < batches:
            if not self.healthy():
                raise StackFailed("; ".join(self.errors) or "the stack was stopped")
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(poll)
        return True

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)
        stop_process(self.console)
        if self.gateway is not None:
            self.gateway.shutdown()
            self.gateway.server_close()
        if self.recorder is not None:
            self.recorder.stop()
        if self.db is not None and self.clock is not None:
            try:
                save_clock(self.db, self.clock)
            except Exception:
                log.warning("could not save the demo clock")
        spark = getattr(self, "spark", None)
        if spark is not None:
            try:
                spark.stop()
            except Exception:  # Ctrl-C reaches the JVM too; it may be gone
                log.debug("the Spark JVM had already stopped")
        if self.db is not None:
            self.db.client.close()
        if self.mongo is not None:
            self.mongo.stop()
