"""The Spark standalone REST requests as the master expects them, the tokens its
signed calls carry, and the master's ``/json/`` state as the client reads it."""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from mrsjobs.engines.spark_standalone.master import parse_state
from mrsjobs.engines.spark_standalone.rest import (
    PYTHON_RUNNER,
    TOKEN_TTL_S,
    DriverState,
    SparkRest,
    SparkRestError,
    file_uri,
    jvm_app,
    python_app,
    read_key,
)

MASTER = "spark://10.0.0.2:7077"


def test_jvm_app_runs_in_cluster_mode_with_its_jar_in_spark_jars() -> None:
    body = jvm_app(master=MASTER, app_name="pi", jar=Path("/data/app.jar"), main_class="x.Pi",
                   args=["4"], jars=["/data/dep.jar"],
                   properties={"spark.driver.memory": "512m", "spark.master": "ignored"}).body()
    assert body["action"] == "CreateSubmissionRequest"
    assert (body["appResource"], body["mainClass"], body["appArgs"]) == (
        "file:///data/app.jar", "x.Pi", ["4"])
    props = body["sparkProperties"]
    assert props["spark.master"] == MASTER  # what the engine sets wins
    assert props["spark.submit.deployMode"] == "cluster"
    assert props["spark.app.name"] == "pi"
    assert props["spark.jars"] == "file:///data/app.jar,file:///data/dep.jar"
    assert props["spark.driver.memory"] == "512m"
    assert body["clientSparkVersion"] and body["environmentVariables"]["SPARK_ENV_LOADED"] == "1"


def test_python_app_goes_through_python_runner() -> None:
    req = python_app(master=MASTER, app_name="count", script="/data/count.py",
                     python="/venv/bin/python", args=["10"], py_files=["hdfs:///lib.zip"])
    assert req.main_class == PYTHON_RUNNER
    assert req.app_args == ("file:///data/count.py", "hdfs:///lib.zip", "10")
    assert req.spark_properties["spark.pyspark.python"] == "/venv/bin/python"
    assert req.spark_properties["spark.submit.pyFiles"] == "hdfs:///lib.zip"
    assert req.environment_variables["PYSPARK_PYTHON"] == "/venv/bin/python"


@pytest.mark.parametrize("kwargs", [{"master": "local[2]"}, {"app_name": ""},
                                    {"main_class": ""}])
def test_bad_requests_are_refused_before_sending(kwargs: dict[str, str]) -> None:
    args: dict[str, Any] = {"master": MASTER, "app_name": "a", "jar": "/a.jar",
                            "main_class": "x.Y", **kwargs}
    with pytest.raises(ValueError):
        jvm_app(**args)


def test_file_uri_keeps_uris() -> None:
    assert file_uri("hdfs:///x.jar") == "hdfs:///x.jar"
    assert file_uri("/x y.jar") == "file:///x%20y.jar"


STATE = {
    "url": MASTER, "status": "ALIVE", "aliveworkers": 2,
    "workers": [
        {"id": "worker-1", "host": "10.0.0.3", "port": 4000, "webuiaddress": "http://10.0.0.3:8081",
         "cores": 2, "coresused": 2, "memory": 1024, "memoryused": 1024, "state": "ALIVE"},
        {"id": "worker-2", "host": "10.0.0.4", "port": 4000, "webuiaddress": "http://10.0.0.4:8081",
         "cores": 2, "coresused": 0, "memory": 1024, "memoryused": 0, "state": "DEAD"},
    ],
    "activeapps": [{"id": "app-1", "name": "Pi", "state": "RUNNING", "cores": 1,
                    "memoryperexecutor": 512, "user": "root", "starttime": 1}],
    "completedapps": [{"id": "app-0", "name": "Pi", "state": "KILLED", "cores": 1,
                       "memoryperexecutor": 512, "user": "root", "starttime": 0}],
    "activedrivers": [{"id": "driver-1", "state": "RUNNING", "worker": "worker-1", "cores": 1,
                       "memory": 512, "mainclass": "x.Pi", "starttime": 1}],
    "completeddrivers": [{"id": "driver-0", "state": "KILLED", "worker": "None", "cores": 1,
                          "memory": 512, "mainclass": "x.Pi", "starttime": 0}],
}


def test_master_state_counts_alive_workers_only() -> None:
    state = parse_state(STATE)
    assert [w.id for w in state.alive_workers] == ["worker-1"]
    assert (state.cores, state.cores_free, state.memory_mb, state.memory_free_mb) == (2, 0, 1024, 0)
    assert state.driver_active("driver-1") and not state.driver_active("driver-0")
    killed = state.driver("driver-0")
    assert killed is not None and killed.state is DriverState.KILLED and killed.worker is None
    assert state.app_active("app-1") and not state.app_active("app-0")
    assert state.app("app-0") is not None and state.app("nope") is None


def test_unreadable_master_state_is_an_error() -> None:
    with pytest.raises(SparkRestError):
        parse_state({**STATE, "activedrivers": [{"id": "d", "state": "DANCING"}]})
    with pytest.raises(SparkRestError):
        parse_state({**STATE, "workers": "none"})


def test_a_rest_key_file_is_checked(tmp_path: Path) -> None:
    short = tmp_path / "short"
    short.write_text(secrets.token_urlsafe(16))
    garbled = tmp_path / "garbled"
    garbled.write_text("not base64url text!")
    for path, problem in ((tmp_path / "missing", "cannot read"), (short, "128 bits"),
                          (garbled, "base64url")):
        with pytest.raises(ValueError, match=problem):
            read_key(str(path))
    good = tmp_path / "good"
    good.write_text(secrets.token_urlsafe(32) + "\n")
    assert len(read_key(str(good))) == 32


def test_calls_carry_a_token_signed_with_the_key() -> None:
    key = secrets.token_bytes(32)
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("Authorization", ""))
        return httpx.Response(200, json={"action": "SubmissionStatusResponse",
                                         "success": True, "driverState": "RUNNING"})

    with SparkRest("http://master:6066", key=key,
                   transport=httpx.MockTransport(answer)) as rest:
        assert rest.status("driver-1").state is DriverState.RUNNING
    with SparkRest("http://master:6066", transport=httpx.MockTransport(answer)) as rest:
        rest.status("driver-1")
    signed, unsigned = seen
    scheme, token = signed.split(" ")
    claims = jwt.decode(token, key, algorithms=["HS256"])
    assert scheme == "Bearer" and 0 < claims["exp"] - time.time() <= TOKEN_TTL_S
    assert unsigned == ""
