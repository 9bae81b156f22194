"""The SQL engine's listener (``spark_connect/java/EndedQueryJobs.java``) in a real
Spark driver: a job that starts for a SQL query that has already ended, as adaptive
execution may submit one after an interrupt, is cancelled; every other job runs."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest
from pyspark import SparkContext, TaskContext
from pyspark.sql import SparkSession
from pyspark.sql.functions import udf

from mrsjobs.engines.spark_connect.listener import LISTENER, listener_classes
from mrsjobs.settings import Settings

EXECUTION_ID = "spark.sql.execution.id"


@pytest.fixture(scope="module")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkSession]:
    classes = listener_classes(tmp_path_factory.mktemp("lib"), Settings().spark_dir / "jars")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("PYSPARK_PYTHON", sys.executable)  # the UDF's worker: this runtime
        session = (SparkSession.builder.master("local[1]").appName("ended-query-jobs")
                   .config("spark.driver.host", "127.0.0.1")
                   .config("spark.driver.bindAddress", "127.0.0.1")
                   .config("spark.ui.enabled", "false")
                   .config("spark.extraListeners", LISTENER)
                   .config("spark.driver.extraClassPath", str(classes))
                   .getOrCreate())
        yield session
        session.stop()
        _stop_gateway()


def _stop_gateway() -> None:
    """End the driver's JVM now, not with the test process."""
    gateway = SparkContext._gateway
    if gateway is None:
        return
    SparkContext._gateway = SparkContext._jvm = None
    gateway.shutdown()
    proc = gateway.proc
    proc.stdin.close()  # the JVM ends when its stdin does
    proc.wait(timeout=60)


def _query_execution_id(spark: SparkSession) -> str:
    """Run a SQL query to its end; the execution id its tasks ran under."""
    of_task = udf(lambda _: TaskContext.get().getLocalProperty(EXECUTION_ID))  # type: ignore[union-attr]
    (row,) = spark.range(1).select(of_task("id").alias("execution")).collect()
    return str(row.execution)


def _count_under(spark: SparkSession, execution: str | None) -> int:
    """A job started on behalf of the SQL execution ``execution`` (None: of none)."""
    sc = spark.sparkContext
    sc.setLocalProperty(EXECUTION_ID, execution)  # type: ignore[arg-type]
    try:
        return sc.parallelize(range(10), 2).count()
    finally:
        sc.setLocalProperty(EXECUTION_ID, None)  # type: ignore[arg-type]


def test_a_job_of_an_ended_query_is_cancelled(spark: SparkSession) -> None:
    ended = _query_execution_id(spark)
    # py4j's error, with the JVM's reason
    with pytest.raises(Exception, match=f"its SQL query {ended} had already ended"):
        _count_under(spark, ended)


def test_other_jobs_and_queries_run(spark: SparkSession) -> None:
    assert _count_under(spark, None) == 10
    first = _query_execution_id(spark)
    assert _query_execution_id(spark) != first  # each query its own id, each ran
    assert spark.sql("SELECT sum(id) AS s FROM range(0, 1000, 1, 4)").collect()[0].s == 499500
