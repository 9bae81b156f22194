"""A SQL job's Connect session asks whether to go on between a query's analysis and
its rows, so that a kill whose interrupt met the analysis just as it ended still stops
the query before it runs. (Spark stands in as a recorder of the calls it gets; the
real engine's kills: tests/e2e/test_sql_engine.py.)"""

from __future__ import annotations

from typing import Any

import pyarrow as pa  # type: ignore[import-untyped]

from mrsjobs.engines.spark_connect.client import JobSession


class _Frame:
    def __init__(self, calls: list[str]) -> None:
        self.calls = calls

    def limit(self, n: int) -> _Frame:
        self.calls.append(f"limit {n}")
        return self

    def toArrow(self) -> pa.Table:
        self.calls.append("rows")
        return pa.table({"n": [1, 2]})


class _Spark:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def addTag(self, tag: str) -> None:
        self.calls.append(f"tag {tag}")

    def sql(self, statement: str) -> _Frame:
        self.calls.append(f"sql {statement}")
        return _Frame(self.calls)


def _session() -> tuple[JobSession, _Spark]:
    session = JobSession("127.0.0.1:1", "token", "job-1")  # connects on first call only
    spark = _Spark()
    session._spark = spark  # type: ignore[assignment]
    return session, spark


def test_a_kill_between_analysis_and_rows_stops_the_query() -> None:
    session, spark = _session()
    asked: list[Any] = []

    def go_on() -> bool:
        asked.append(spark.calls[:])  # what had run when it was asked
        return False

    assert session.run(0, "SELECT 1", 10, go_on) is None
    assert asked == [["tag job-1", "sql SELECT 1"]]
    assert spark.calls == ["tag job-1", "sql SELECT 1"]  # its rows were never asked for


def test_without_a_kill_the_rows_are_kept() -> None:
    session, spark = _session()
    result = session.run(3, "SELECT n", 1, lambda: True)
    assert result is not None
    assert (result.statement, result.rows, result.truncated) == (3, [{"n": "1"}], True)
    assert spark.calls == ["tag job-1", "sql SELECT n", "limit 2", "rows"]
