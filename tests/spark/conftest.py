"""One local SparkSession for every Spark test (a JVM start costs ~6 s)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from spark.session import SparkUnavailableError, local_session
from tests.conftest import skip_or_fail


@pytest.fixture(scope="session")
def spark() -> Iterator[object]:
    try:
        session = local_session("local[2]", shuffle_partitions=2, driver_memory="1g")
    except SparkUnavailableError as exc:
        skip_or_fail(str(exc))
    yield session
    session.stop()
