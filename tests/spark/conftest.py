"""One local SparkSession for every Spark test (a JVM start costs ~6 s)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from services.mongo.repository import MongoStore, connect
from spark.session import SparkUnavailableError, local_session
from tests.conftest import skip_or_fail
from tests.spark.test_job import write_traffic

#: Hours of traffic in ``lake``.
LAKE_HOURS = 4


@pytest.fixture(scope="session")
def spark() -> Iterator[object]:
    try:
        session = local_session("local[2]", shuffle_partitions=2, driver_memory="1g")
    except SparkUnavailableError as exc:
        skip_or_fail(str(exc))
    yield session
    session.stop()


@pytest.fixture
def second_store(mongo_server, clock):
    """A store on a database of its own, beside ``store``."""
    db = connect(mongo_server.uri, db_name=f"t_{uuid.uuid4().hex[:12]}", timeout_ms=3000)
    other = MongoStore(db, clock)
    other.ensure_indexes()
    yield other
    db.client.drop_database(db.name)
    db.client.close()


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    """``LAKE_HOURS`` of traffic with repeated deliveries, orphan and late clicks and malformed
    lines; its late clicks land up to three hours later. ``(root, summary)``."""
    root = tmp_path_factory.mktemp("lake") / "events"
    summary = write_traffic(
        root,
        hours=LAKE_HOURS,
        duplicate_share=0.02,
        orphan_click_share=0.05,
        malformed_share=0.002,
        late_click_share=0.05,
    )
    return root, summary
