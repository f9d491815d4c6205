"""A store outage: the embedded MongoDB server is stopped mid-test and pages still get models.

Uses its own server (not the session one) so that stopping it affects only this test.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from services.clock import FixedClock
from services.mongo.embedded import EmbeddedMongo
from services.mongo.repository import MongoStore, connect
from services.serving.config_cache import ConfigurationCache
from services.serving.observability import ListLog
from services.serving.request import SelectRequest
from services.serving.service import SelectorService
from services.serving.settings import ServingSettings
from tests.foundation.factories import area
from tests.serving.conftest import save_batch, start_experiment


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[EmbeddedMongo]:
    server = EmbeddedMongo(data_dir=tmp_path / "mongo").start()
    yield server
    server.stop()


def test_outage_serves_last_known_then_configured_defaults(
    own_server: EmbeddedMongo, clock: FixedClock
) -> None:
    # GIVEN a running experiment in MAIN, an area CART never asked for, and area defaults
    db = connect(own_server.uri, db_name="outage", timeout_ms=300)
    store = MongoStore(db, clock)
    store.ensure_indexes()
    exp = start_experiment(store)
    save_batch(store, exp, [(1972, 27302), (430, 6960)])
    store.save_area(area("CART", "CART-POPULAR-01"))
    log = ListLog()
    settings = ServingSettings(
        refresh_seconds=30, retry_seconds=5, area_defaults={"CART": "CART-SAFE-01"}
    )
    cache = ConfigurationCache(store, clock, refresh_seconds=30, retry_seconds=5)
    service = SelectorService(cache, clock, log, settings)
    clock.advance(days=2)
    assert service.select(SelectRequest("1", "MAIN")).body["reason"] == "bts"

    # WHEN the server stops and the cached configuration falls due
    own_server.stop()
    clock.advance(seconds=31)
    main = [service.select(SelectRequest(str(m), "MAIN")) for m in range(20)]
    cart = service.select(SelectRequest("1", "CART"))
    other = service.select(SelectRequest("1", "SEARCH"))

    # THEN MAIN keeps serving from its last-known configuration ...
    assert all(r.status == 200 and r.body["model_code"] in exp.model_codes for r in main)
    assert {r.body["reason"] for r in main} == {"bts"}
    assert [rec["stale_config"] for rec in log.records[:21]] == [False] + [True] * 20
    # ... the store was asked once, for MAIN; its failure is remembered for the retry interval,
    # so CART and SEARCH are answered without asking it again ...
    assert (cache.loads, cache.failures) == (2, 1)  # the first load, then the failed one
    # ... CART, never loaded, gets its configured default, reason fallback ...
    assert cart.status == 200
    assert (cart.body["model_code"], cart.body["reason"]) == ("CART-SAFE-01", "fallback")
    # ... and an area with no default at all is a 503 JSON error, logged.
    assert other.status == 503 and "SEARCH" in other.body["error"]
    assert any("store unavailable" in e["message"] for e in log.errors)
    db.client.close()


def test_any_area_default_covers_every_area(own_server: EmbeddedMongo, clock: FixedClock) -> None:
    db = connect(own_server.uri, db_name="outage2", timeout_ms=300)
    own_server.stop()
    settings = ServingSettings(area_defaults={"*": "SITE-POPULAR-01"})
    cache = ConfigurationCache(MongoStore(db, clock), clock)
    service = SelectorService(cache, clock, ListLog(), settings)
    body = service.select(SelectRequest("1", "ANY_AREA")).body
    assert (body["model_code"], body["reason"], body["experiment_id"]) == (
        "SITE-POPULAR-01",
        "fallback",
        None,
    )
    db.client.close()
