"""One local SparkSession for every Spark test (a JVM start costs ~6 s)."""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator

import pytest

from spark.session import SparkUnavailableError, local_session


def _let_assert_dataframe_equal_run_without_pandas_on_spark() -> None:
    """``assertDataFrameEqual`` imports ``pyspark.pandas`` whenever pandas and pyarrow are
    installed, only to check whether an argument is a pandas-on-Spark frame. With pandas 3 that
    import fails (PySpark 4.3 supports pandas < 3), so the comparison of two Spark DataFrames
    would fail too. A stand-in module whose ``DataFrame`` nothing is an instance of lets the
    Spark-to-Spark comparison run unchanged; the real module is used whenever it imports."""
    try:
        import pyspark.pandas  # noqa: F401
    except ImportError:
        stub = types.ModuleType("pyspark.pandas")
        stub.DataFrame = type("DataFrame", (), {})  # type: ignore[attr-defined]
        utils = types.ModuleType("pyspark.testing.pandasutils")
        utils.PandasOnSparkTestUtils = type("PandasOnSparkTestUtils", (), {})  # type: ignore[attr-defined]
        sys.modules["pyspark.pandas"] = stub
        sys.modules["pyspark.testing.pandasutils"] = utils


_let_assert_dataframe_equal_run_without_pandas_on_spark()


@pytest.fixture(scope="session")
def spark() -> Iterator[object]:
    try:
        session = local_session("local[2]", shuffle_partitions=2, driver_memory="1g")
    except SparkUnavailableError as exc:
        pytest.skip(str(exc))
    yield session
    session.stop()
