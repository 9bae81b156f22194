"""The Spark standalone master's REST submission server (``create``, ``status``,
``kill``, ``readyz`` under ``/v1/submissions``), and the requests that run a JVM or a
Python app in cluster deploy mode through it: the driver runs on a worker.

The server has no authentication of its own: it must be bound to a private interface
(``spark.master.rest.host``). Spark can make it require a token signed with a shared
key (``spark.master.rest.filters=org.apache.spark.ui.JWSFilter``): given that key, the
client signs every call. Every call has a timeout; every failure is one
:class:`SparkRestError` carrying the reason.
"""

from __future__ import annotations

import base64
import binascii
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import httpx
import jwt

#: What spark-submit would send as ``clientSparkVersion``; the server only logs it.
CLIENT_SPARK_VERSION = "4.3.0"
#: Runs a Python file as the driver. spark-submit refuses Python apps in cluster mode
#: on a standalone master; the REST server takes them this way.
PYTHON_RUNNER = "org.apache.spark.deploy.PythonRunner"
DEFAULT_TIMEOUT_S = 5.0
_DRIVER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+={0,2}")
#: Spark's JWSFilter takes HS256 keys of 256 bits or more.
MIN_KEY_BYTES = 32
#: How long a call's token is good for: a token seen on the network is soon useless.
TOKEN_TTL_S = 60


class SparkRestError(Exception):
    """A call to the master failed: unreachable, refused, or answered unexpectedly."""

    def __init__(self, reason: str, *, status: int | None = None,
                 unreachable: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        #: The HTTP status of the answer, if there was one.
        self.status = status
        #: No answer at all (connection refused, timed out): the master may be down.
        self.unreachable = unreachable


class DriverState(StrEnum):
    """A cluster-mode driver's state at the master (Spark's ``DriverState``)."""

    SUBMITTED = "SUBMITTED"
    RUNNING = "RUNNING"
    RELAUNCHING = "RELAUNCHING"
    UNKNOWN = "UNKNOWN"
    FINISHED = "FINISHED"
    KILLED = "KILLED"
    FAILED = "FAILED"
    ERROR = "ERROR"

    @property
    def terminal(self) -> bool:
        return self in _TERMINAL


_TERMINAL = frozenset({DriverState.FINISHED, DriverState.KILLED, DriverState.FAILED,
                       DriverState.ERROR})


def driver_state(value: object) -> DriverState:
    try:
        return DriverState(str(value))
    except ValueError:
        raise SparkRestError(f"unknown driver state {value!r}") from None


def read_key(path: str) -> bytes:
    """The key in ``path``: base64url text, as Spark's JWSFilter takes it in
    ``spark.org.apache.spark.ui.JWSFilter.param.secretKey``. ValueError saying what is
    wrong with the file."""
    try:
        text = Path(path).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read the REST key file {path}: {exc}") from None
    try:
        if not _BASE64URL.fullmatch(text):
            raise ValueError(text)
        key = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise ValueError(f"the REST key file {path} does not hold base64url text") from None
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(f"the key in {path} has {len(key) * 8} bits: Spark's JWSFilter "
                         f"needs at least {MIN_KEY_BYTES * 8}")
    return key


# -- requests ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CreateRequest:
    """A ``CreateSubmissionRequest``: one driver to run on a worker."""

    app_resource: str
    main_class: str
    app_args: tuple[str, ...]
    spark_properties: Mapping[str, str]
    environment_variables: Mapping[str, str] = field(default_factory=dict)
    client_spark_version: str = CLIENT_SPARK_VERSION

    def body(self) -> dict[str, Any]:
        return {
            "action": "CreateSubmissionRequest",
            "appResource": self.app_resource,
            "mainClass": self.main_class,
            "appArgs": list(self.app_args),
            "clientSparkVersion": self.client_spark_version,
            "environmentVariables": dict(self.environment_variables),
            "sparkProperties": dict(self.spark_properties),
        }


def file_uri(path: str | Path) -> str:
    """A local path as the ``file:`` URI Spark expects; URIs pass unchanged."""
    text = str(path)
    if re.match(r"[A-Za-z][A-Za-z0-9+.-]*:", text):
        return text
    return Path(text).absolute().as_uri()


def _properties(master: str, app_name: str, given: Mapping[str, str] | None,
                required: Mapping[str, str]) -> dict[str, str]:
    if not master.startswith("spark://"):
        raise ValueError(f"master must be a spark:// URL, not {master!r}")
    if not app_name:
        raise ValueError("an app name is required")
    return {"spark.driver.supervise": "false", **(given or {}),
            "spark.master": master, "spark.app.name": app_name,
            "spark.submit.deployMode": "cluster", **required}


def jvm_app(*, master: str, app_name: str, jar: str | Path, main_class: str,
            args: Sequence[str] = (), jars: Sequence[str | Path] = (),
            properties: Mapping[str, str] | None = None,
            env: Mapping[str, str] | None = None,
            spark_version: str = CLIENT_SPARK_VERSION) -> CreateRequest:
    """A JVM app: ``main_class`` of ``jar``. ``spark.jars`` lists the app's jar and
    ``jars`` as spark-submit would; without it the executors cannot load the app's
    classes (lambdas fail to deserialize)."""
    if not main_class:
        raise ValueError("a main class is required")
    app = file_uri(jar)
    required = {"spark.jars": ",".join([app, *map(file_uri, jars)])}
    return CreateRequest(app, main_class, tuple(args),
                         _properties(master, app_name, properties, required),
                         {"SPARK_ENV_LOADED": "1", **(env or {})}, spark_version)


def python_app(*, master: str, app_name: str, script: str | Path, python: str,
               args: Sequence[str] = (), py_files: Sequence[str | Path] = (),
               properties: Mapping[str, str] | None = None,
               env: Mapping[str, str] | None = None,
               spark_version: str = CLIENT_SPARK_VERSION) -> CreateRequest:
    """A Python app run by :data:`PYTHON_RUNNER` on a worker: its arguments are the
    script, the comma-separated py-files, then the app's own arguments. ``python`` is
    the interpreter on the workers, for the driver and the executors."""
    if not python:
        raise ValueError("a Python interpreter is required")
    script_uri = file_uri(script)
    files = ",".join(map(file_uri, py_files))
    required = {"spark.pyspark.python": python, "spark.pyspark.driver.python": python}
    if files:
        required["spark.submit.pyFiles"] = files
    return CreateRequest(script_uri, PYTHON_RUNNER, (script_uri, files, *args),
                         _properties(master, app_name, properties, required),
                         {"SPARK_ENV_LOADED": "1", "PYSPARK_PYTHON": python, **(env or {})},
                         spark_version)


# -- answers ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Readiness:
    ready: bool
    server_version: str | None
    message: str | None


@dataclass(frozen=True)
class Submission:
    """A driver the master accepted."""

    driver_id: str
    server_version: str | None
    message: str | None


@dataclass(frozen=True)
class DriverStatus:
    driver_id: str
    #: None if the master does not know the driver (never, or no longer, retained).
    state: DriverState | None
    worker_id: str | None
    #: ``host:port`` of the worker running (or that ran) the driver.
    worker_host_port: str | None
    #: The driver's exception, if it ended with one.
    message: str | None

    @property
    def found(self) -> bool:
        return self.state is not None

    @property
    def worker_host(self) -> str | None:
        return self.worker_host_port.rsplit(":", 1)[0] if self.worker_host_port else None


@dataclass(frozen=True)
class KillAnswer:
    driver_id: str
    #: The master passed the kill on; False if the driver had ended or is unknown.
    accepted: bool
    message: str | None


def _text(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    return None if value is None else str(value)


class SparkRest:
    """A client of one master's REST submission server, e.g. ``http://H:6066``;
    ``key`` signs each call's token for a server that requires one (:func:`read_key`).
    Thread-safe; close it (or use it as a context manager) when done."""

    def __init__(self, rest_url: str, *, timeout: float = DEFAULT_TIMEOUT_S,
                 transport: httpx.BaseTransport | None = None,
                 key: bytes | None = None) -> None:
        self.rest_url = rest_url.rstrip("/")
        self._key = key
        self._http = httpx.Client(base_url=f"{self.rest_url}/v1/submissions",
                                  timeout=httpx.Timeout(timeout), transport=transport,
                                  trust_env=False)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> SparkRest:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, body: Mapping[str, Any] | None = None,
              expect: str | None = None) -> dict[str, Any]:
        try:
            answer = self._http.request(method, path, json=body, headers=self._auth())
        except httpx.TransportError as exc:
            raise SparkRestError(f"{self.rest_url} unreachable: {exc!r}",
                                 unreachable=True) from exc
        try:
            data = answer.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise SparkRestError(f"{method} {path}: HTTP {answer.status_code}: "
                                 f"{answer.text[:300]!r}", status=answer.status_code)
        if data.get("action") == "ErrorResponse" or (expect and data.get("action") != expect):
            raise SparkRestError(f"{method} {path}: HTTP {answer.status_code}: "
                                 f"{data.get('message') or data}", status=answer.status_code)
        return data

    def _auth(self) -> dict[str, str] | None:
        if self._key is None:
            return None
        now = int(time.time())
        token = jwt.encode({"iat": now, "exp": now + TOKEN_TTL_S}, self._key, "HS256")
        return {"Authorization": f"Bearer {token}"}

    def readyz(self) -> Readiness:
        try:
            data = self._call("GET", "/readyz")
        except SparkRestError as exc:
            if exc.unreachable or exc.status is None:
                raise
            return Readiness(False, None, exc.reason)
        return Readiness(data.get("success") is True, _text(data, "serverSparkVersion"),
                         _text(data, "message"))

    def create(self, request: CreateRequest) -> Submission:
        data = self._call("POST", "/create", request.body(), "CreateSubmissionResponse")
        driver_id = data.get("submissionId")
        if data.get("success") is not True or not isinstance(driver_id, str):
            raise SparkRestError(f"submission refused: {data.get('message') or data}")
        return Submission(driver_id, _text(data, "serverSparkVersion"), _text(data, "message"))

    def status(self, driver_id: str) -> DriverStatus:
        data = self._call("GET", f"/status/{_checked(driver_id)}",
                          expect="SubmissionStatusResponse")
        raw = data.get("driverState")
        state = driver_state(raw) if data.get("success") is True and raw else None
        return DriverStatus(driver_id, state, _text(data, "workerId"),
                            _text(data, "workerHostPort"), _text(data, "message"))

    def kill(self, driver_id: str) -> KillAnswer:
        data = self._call("POST", f"/kill/{_checked(driver_id)}",
                          expect="KillSubmissionResponse")
        return KillAnswer(driver_id, data.get("success") is True, _text(data, "message"))


def _checked(driver_id: str) -> str:
    """The id, if it is safe in a URL path (it comes from the store)."""
    if not _DRIVER_ID.fullmatch(driver_id):
        raise SparkRestError(f"not a driver id: {driver_id!r}")
    return driver_id
