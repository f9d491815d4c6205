"""A local SparkSession for `dynab update-params` and the tests; one clear error without Java."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from services.exceptions import DynabError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


class SparkUnavailableError(DynabError):
    """Spark cannot run here (no Java, no pyspark)."""


JAVA_MISSING = (
    "Spark's local mode needs Java 17 or newer and none was found: install a JDK "
    "(e.g. `apt-get install openjdk-17-jre-headless`) or set JAVA_HOME"
)


def find_java() -> str | None:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return str(Path(home) / "bin" / "java")
    return shutil.which("java")


def local_session(
    master: str = "local[2]",
    *,
    shuffle_partitions: int = 4,
    driver_memory: str = "2g",
    app_name: str = "dynab-update-params",
) -> SparkSession:
    """Start (or reuse) a local SparkSession set up the way dynab's job expects.

    Raises:
        SparkUnavailableError: one line saying what is missing (Java or pyspark).
    """
    if find_java() is None:
        raise SparkUnavailableError(JAVA_MISSING)
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise SparkUnavailableError(
            "pyspark is not installed; `pip install 'dynab[spark]'`"
        ) from None
    # Executors must run this interpreter, or they miss the packages installed beside it.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    try:
        session = (
            SparkSession.builder.master(master)
            .appName(app_name)
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            # Sized to the cores, not to Spark's cluster default of 200: on local[2] an hour's
            # aggregations move a few MB, and each partition is a task to schedule.
            .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
            # No adaptive execution in local mode: with partitions already sized to the cores it
            # has nothing to coalesce, and it turns every stage into a job of its own (about a
            # tenth of a steady-state batch's wall time here). On a cluster it stays on.
            .config("spark.sql.adaptive.enabled", "false")
            # A batch generates some 130 classes and Spark keeps 100 compiled by default: a
            # session that runs batch after batch (dynab's local stack) compiled every one again
            # each batch and ran it before the JVM had optimised it (some 3 s of a 14 s batch).
            .config("spark.sql.codegen.cache.maxEntries", "1000")
            .config("spark.sql.parquet.compression.codec", "snappy")
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.driver.memory", driver_memory)
            .getOrCreate()
        )
    except Exception as exc:  # the gateway raises several kinds
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SparkUnavailableError(f"Spark did not start: {first}") from exc
    session.sparkContext.setLogLevel("ERROR")
    return session


def compiled_classes(spark: SparkSession) -> int:
    """How many classes Spark's code generator has compiled in this JVM so far."""
    metrics = getattr(spark._jvm.org.apache.spark.metrics.source, "CodegenMetrics$")  # type: ignore[attr-defined]
    return int(getattr(metrics, "MODULE$").METRIC_COMPILATION_TIME().getCount())
