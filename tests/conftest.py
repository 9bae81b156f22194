"""Shared test tools: condition waits and a real ``mrsjobs serve`` subprocess."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

import httpx
import pytest

from tests.databases import BACKENDS, database

T = TypeVar("T")

FIXTURES = Path(__file__).parent / "fixtures"
FAKE_TOOL = FIXTURES / "fake_tool.sh"


def wait_for(predicate: Callable[[], T], timeout: float = 10.0, interval: float = 0.01,
             message: str = "condition") -> T:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def mrsjobs(*args: str, env: Mapping[str, str] | None = None) -> str:
    out = subprocess.run([sys.executable, "-m", "mrsjobs.cli", *args], check=True,
                         capture_output=True, text=True, env=env, timeout=60)
    return out.stdout.strip()


def processes_with(marker: str) -> list[int]:
    """Live (non-zombie) processes whose command line or working directory mentions ``marker``."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = Path(f"/proc/{entry.name}/cmdline").read_bytes()
            cwd = os.readlink(f"/proc/{entry.name}/cwd")
            stat = Path(f"/proc/{entry.name}/stat").read_text()
        except OSError:
            continue
        mentions = marker.encode() in cmdline or cwd.startswith(marker)
        if mentions and stat[stat.rindex(")") + 2] not in "ZX":
            found.append(int(entry.name))
    return found


@dataclass
class Server:
    """A running ``mrsjobs serve`` with a token and an access key (AK/SK) of user
    alice in its default project."""

    data_dir: Path
    port: int
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None
    project_id: str = ""
    cluster_id: str = ""
    token: str = ""
    access_key: str = ""
    secret_key: str = ""
    log: Path = field(default_factory=Path)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def jobs_path(self) -> str:
        return f"/v2/{self.project_id}/clusters/{self.cluster_id}/job-executions"

    def area_path(self, *parts: str) -> Path:
        """The local path of ``hdfs:///<parts>`` in the default cluster's file area."""
        clusters = self.env.get("MRSJOBS_CLUSTERS_DIR") or self.data_dir / "clusters"
        return (Path(clusters) / self.cluster_id / "files").resolve().joinpath(*parts)

    def put_file(self, client: httpx.Client, path: str, content: bytes) -> None:
        """Upload ``content`` to ``hdfs://<path>`` in the default cluster's file area."""
        resp = client.put(f"/v2/{self.project_id}/clusters/{self.cluster_id}/files",
                          params={"path": path}, content=content)
        assert resp.status_code == 201, resp.text

    def cli(self, *args: str) -> str:
        return mrsjobs(*args, "--data-dir", str(self.data_dir), env=self.env)

    def start(self) -> None:
        info = json.loads(self.cli("info", "--json"))
        self.project_id, self.cluster_id = info["project_id"], info["cluster_id"]
        if not self.token:
            self.token = self.cli("token", "create", "--project", self.project_id,
                                  "--user", "alice")
        if not self.access_key:
            key = json.loads(self.cli("access-key", "create", "--project", self.project_id,
                                      "--user", "alice", "--json"))
            self.access_key, self.secret_key = key["access_key"], key["secret_key"]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "mrsjobs.cli", "serve", "--data-dir",
                 str(self.data_dir), "--port", str(self.port), "--log-level", "warning"],
                env=self.env, stdout=log, stderr=log, start_new_session=True)
        wait_for(self._ready, timeout=30, interval=0.05, message="the server to listen")

    def _ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"server exited:\n{self.log.read_text()}")
        try:
            httpx.get(self.endpoint + "/", timeout=1)
        except httpx.TransportError:
            return False
        return True

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(30)
        self.proc = None

    def client(self, token: str | None = None) -> httpx.Client:
        return httpx.Client(base_url=self.endpoint, timeout=30,
                            headers={"X-Auth-Token": token or self.token})

    def submit(self, client: httpx.Client, body: dict[str, Any]) -> str:
        resp = client.post(self.jobs_path, json=body)
        assert resp.status_code == 202, resp.text
        job_id: str = resp.json()["job_submit_result"]["job_id"]
        return job_id

    def job(self, client: httpx.Client, job_id: str) -> dict[str, Any]:
        resp = client.get(f"{self.jobs_path}/{job_id}")
        assert resp.status_code == 202, resp.text
        detail: dict[str, Any] = resp.json()["job_detail"]
        return detail

    def wait_state(self, client: httpx.Client, job_id: str, *states: str,
                   timeout: float = 30) -> dict[str, Any]:
        return wait_for(lambda: (j := self.job(client, job_id))["job_state"] in states and j,
                        timeout=timeout, interval=0.02, message=f"{job_id} in {states}")


def assert_error(resp: httpx.Response, status: int, code: str, *words: str) -> None:
    """An MRS error envelope with ``code`` whose message mentions every one of ``words``."""
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["error_code"] == code, body
    for word in words:
        assert word in body["error_msg"], body
    assert resp.headers["x-request-id"]


def sdk_client(client_class: Any, server: Server, access_key: str | None = None,
               secret_key: str | None = None, project_id: str | None = None) -> Any:
    """A real ``huaweicloudsdkmrs`` client (v1 or v2) pointed at ``server``, signing
    every request with an access key (the server's own unless given)."""
    from huaweicloudsdkcore.auth.credentials import BasicCredentials

    credentials = BasicCredentials(access_key or server.access_key,
                                   secret_key or server.secret_key,
                                   project_id or server.project_id)
    return (
        client_class.new_builder()
        .with_credentials(credentials)
        .with_endpoints([server.endpoint])
        .build()
    )


def kill_leftovers(marker: str) -> None:
    for pid in processes_with(marker):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def new_server(tmp_path: Path, index: int = 0, **settings: str) -> Server:
    """A server (not started yet) on a fresh data directory under ``tmp_path``."""
    env = dict(os.environ)
    env.update({f"MRSJOBS_{k.upper()}": v for k, v in settings.items()})
    return Server(data_dir=tmp_path / f"data{index}", port=free_port(), env=env,
                  log=tmp_path / f"server{index}.log")


def stop_server(server: Server) -> None:
    server.stop()
    kill_leftovers(str(server.data_dir))
    remove_tenants(server.data_dir, [server.project_id] if server.project_id else [])


def remove_tenants(data_dir: Path, known: list[str] | None = None) -> None:
    """Remove the OS users and network namespaces of the projects a test server made
    (its processes must be gone): tests leave nothing behind on the host. The projects
    are those of the server's SQLite database and ``known`` (a PostgreSQL database may
    be gone by the time the server is cleaned up)."""
    if os.geteuid() != 0:
        return
    from mrsjobs.containment.tenants import Tenants

    ids = set(known or [])
    if (data_dir / "mrsjobs.db").exists():
        listed = json.loads(mrsjobs("project", "list", "--json", "--data-dir", str(data_dir)))
        ids.update(project["id"] for project in listed)
    tenants = Tenants()
    for project_id in sorted(ids):
        tenants.remove(project_id)


#: Settings of a server whose Spark tools are a trivial script.
FAST = {"spark_submit": str(FAKE_TOOL), "spark_sql": str(FAKE_TOOL),
        "hive_metastore": "false", "kill_grace_s": "2"}


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Start servers on fresh data directories; everything they started is cleaned up."""
    servers: list[Server] = []

    def make(**settings: str) -> Server:
        server = new_server(tmp_path, len(servers), **settings)
        servers.append(server)
        server.start()
        return server

    yield make
    for server in servers:
        stop_server(server)


@pytest.fixture
def fast_server(server_factory: Callable[..., Server]) -> Server:
    """A server whose Spark tools are a trivial script, to test the service alone."""
    return server_factory(**FAST)


def sdk_signed(server: Server, method: str, path: str, *,
               query: list[tuple[str, Any]] | None = None, body: bytes | None = None,
               access_key: str | None = None, secret_key: str | None = None,
               project_id: str | None = None, date: str | None = None
               ) -> tuple[str, dict[str, str]]:
    """The URL and headers huaweicloudsdkcore's own signer makes for a request (with an
    ``X-Sdk-Date`` of ``date`` if given), to send with any HTTP client."""
    from huaweicloudsdkcore.auth.credentials import BasicCredentials
    from huaweicloudsdkcore.sdk_request import SdkRequest

    headers = {"Content-Type": "application/json"}
    if date is not None:
        headers["X-Sdk-Date"] = date
    req = SdkRequest(method=method, schema="http", host=f"127.0.0.1:{server.port}",
                     resource_path=path, query_params=list(query or []),
                     header_params=headers, body=body)
    BasicCredentials(access_key or server.access_key, secret_key or server.secret_key,
                     project_id or server.project_id).sign_request(req)
    return server.endpoint + req.uri, dict(req.header_params)


@pytest.fixture(params=[
    pytest.param(b, marks=[pytest.mark.postgres] if b == "postgresql" else [])
    for b in BACKENDS])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database on each store backend: SQLite, and the PostgreSQL server."""
    with database(request.param, tmp_path) as url:
        yield url


# -- real Spark and Hadoop --------------------------------------------------------------


def _load_build() -> ModuleType:
    spec = importlib.util.spec_from_file_location("mapreduce_fixture_build",
                                                  FIXTURES / "mapreduce" / "build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def java() -> str:
    found = shutil.which("java")
    if found is None or shutil.which("javac") is None:
        if os.environ.get("CI"):
            pytest.fail("CI needs a JDK (java, javac, jar) for the Spark and Hadoop tests")
        pytest.skip("needs a JDK (java, javac, jar)")
    return found


@pytest.fixture(scope="session")
def spark_home() -> Path:
    pyspark = pytest.importorskip("pyspark")
    return Path(pyspark.__file__).parent


@pytest.fixture(scope="session")
def wordcount_jar(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
                  spark_home: Path, java: str) -> Path:
    """The fixture job, rebuilt only when its source (or Spark's Hadoop) changes."""
    cache = getattr(request.config, "cache", None)
    out_dir = (cache.mkdir("mrsjobs-mapreduce-fixture") if cache is not None
               else tmp_path_factory.mktemp("mapreduce-jar"))
    jar: Path = _load_build().build_wordcount_jar(out_dir, spark_home)
    return jar


