"""How a SQL job's text and options become the warm engine's statements and session
conf: split where spark-sql splits, options the engine cannot honour sent cold."""

from __future__ import annotations

from mrsjobs.engines.spark_connect.commands import session_conf, statements


def test_statements_split_at_semicolons_outside_quotes_and_comments() -> None:
    text = ("create table t (s string); -- a comment; still a comment\n"
            "insert into t values ('a;b');\n/* c; */ select * from t;;  ")
    assert statements(text) == (
        "create table t (s string)",
        "insert into t values ('a;b')",
        "/* c; */ select * from t")
    assert statements("-- only a comment\n ; ") == ()


def test_conf_options_become_session_conf() -> None:
    assert session_conf(["--conf", "spark.sql.shuffle.partitions=3", "--hiveconf=x=y",
                         "-c", "a=b=c"]) == {"spark.sql.shuffle.partitions": "3", "x": "y",
                                             "a": "b=c"}
    assert session_conf([]) == {}


def test_options_of_a_jvm_start_send_the_job_cold() -> None:
    assert session_conf(["--driver-memory", "2g"]) is None
    assert session_conf(["--conf"]) is None
    assert session_conf(["--conf", "no-value"]) is None
