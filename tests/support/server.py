"""A real ``mrsjobs serve`` subprocess: started on a data directory and a port, waited
for until it answers, stopped, and the OS users and network namespaces of the projects
it made removed, so that nothing is left behind on the host.

:class:`ServeProcess` is the process alone (the benchmarks build on it);
:class:`Server` adds what the tests use: a token and an access key of user alice in
the default project, and API calls that fail the test on an unexpected status.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.support.procs import kill_leftovers
from tests.support.waiting import free_port, wait_for

PYTHON = sys.executable
FIXTURES = Path(__file__).parent.parent / "fixtures"
FAKE_TOOL = FIXTURES / "fake_tool.sh"

#: Settings of a server whose Spark tools are a trivial script.
FAST = {"spark_submit": str(FAKE_TOOL), "spark_sql": str(FAKE_TOOL),
        "hive_metastore": "false", "kill_grace_s": "2", "sql_engine": "off"}


class ServerExited(AssertionError):
    """The server ended while it was awaited."""


class ServerHung(AssertionError):
    """The server ignored its stop signal (it was killed then)."""


def mrsjobs(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> str:
    """Run the ``mrsjobs`` command line; its output."""
    out = subprocess.run([PYTHON, "-m", "mrsjobs.cli", *args], check=True,
                         capture_output=True, text=True, env=env, cwd=cwd, timeout=120)
    return out.stdout.strip()


@dataclass
class ServeProcess:
    """``mrsjobs serve`` on ``data_dir`` and ``port``, its output appended to ``log``.
    Everything it starts inherits ``cwd`` (if given), where a leftover sweep finds it."""

    data_dir: Path
    port: int
    env: dict[str, str]
    log: Path
    cwd: Path | None = None
    proc: subprocess.Popen[bytes] | None = None
    project_id: str = ""
    cluster_id: str = ""
    token: str = ""

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def jobs_path(self) -> str:
        return f"/v2/{self.project_id}/clusters/{self.cluster_id}/job-executions"

    def cli(self, *args: str) -> str:
        return mrsjobs(*args, "--data-dir", str(self.data_dir), env=self.env, cwd=self.cwd)

    def read_default_project(self) -> None:
        """The default project and cluster (made on first use of the data directory)."""
        info = json.loads(self.cli("info", "--json"))
        self.project_id, self.cluster_id = info["project_id"], info["cluster_id"]

    def launch(self, timeout: float = 30.0) -> None:
        """Start serving and wait until it answers HTTP."""
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [PYTHON, "-m", "mrsjobs.cli", "serve", "--data-dir", str(self.data_dir),
                 "--port", str(self.port), "--log-level", "warning"],
                env=self.env, cwd=self.cwd, stdin=subprocess.DEVNULL, stdout=out,
                stderr=out, start_new_session=True)
        with httpx.Client(base_url=self.endpoint, timeout=1) as probe:
            wait_for(lambda: self._ready(probe), timeout=timeout, interval=0.05,
                     message="the server to listen")

    def _ready(self, probe: httpx.Client | None = None) -> bool:
        """Listening: any HTTP answer to GET / (404) counts."""
        assert self.proc is not None
        if self.proc.poll() is not None:
            text = self.log.read_text(errors="replace")
            raise ServerExited(f"the server exited with {self.proc.returncode}:\n"
                               f"{text[-3000:]}")
        try:
            if probe is None:
                httpx.get(self.endpoint + "/", timeout=1)
            else:
                probe.get("/")
        except httpx.TransportError:
            return False
        return True

    def stop(self, sig: int = signal.SIGTERM, grace: float = 30.0) -> None:
        """Send ``sig`` and wait for the server to end; one that is still up after
        ``grace`` seconds is killed with its process group, and ServerHung raised."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(sig)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
            raise ServerHung(f"the server ignored signal {sig} for {grace}s") from None

    def client(self, token: str | None = None) -> httpx.Client:
        """A keep-alive client that sends ``token`` (the server's own unless given)."""
        return httpx.Client(base_url=self.endpoint, timeout=30,
                            headers={"X-Auth-Token": token or self.token})

    def remove_tenants(self) -> None:
        """Remove the OS users and network namespaces of the projects the server made
        (its processes must be gone): those of its SQLite database and its default
        project (a PostgreSQL database may be gone by the time it is cleaned up)."""
        if os.geteuid() != 0:
            return
        from mrsjobs.containment.tenants import Tenants

        ids = {self.project_id} - {""}
        if (self.data_dir / "mrsjobs.db").exists():
            listed = mrsjobs("project", "list", "--json", "--data-dir", str(self.data_dir),
                             cwd=self.cwd)
            ids.update(project["id"] for project in json.loads(listed))
        tenants = Tenants()
        for project_id in sorted(ids):
            tenants.remove(project_id)

    def close(self) -> None:
        """Stop the server, kill what is left of it and its jobs, remove its tenants."""
        try:
            self.stop()
        finally:
            kill_leftovers(str(self.data_dir))
            self.remove_tenants()


@dataclass
class Server(ServeProcess):
    """A running ``mrsjobs serve`` with a token and an access key (AK/SK) of user
    alice in its default project."""

    access_key: str = ""
    secret_key: str = ""

    def area_path(self, *parts: str) -> Path:
        """The local path of ``hdfs:///<parts>`` in the default cluster's file area."""
        clusters = self.env.get("MRSJOBS_CLUSTERS_DIR") or self.data_dir / "clusters"
        return (Path(clusters) / self.cluster_id / "files").resolve().joinpath(*parts)

    def put_file(self, client: httpx.Client, path: str, content: bytes) -> None:
        """Upload ``content`` to ``hdfs://<path>`` in the default cluster's file area."""
        resp = client.put(f"/v2/{self.project_id}/clusters/{self.cluster_id}/files",
                          params={"path": path}, content=content)
        assert resp.status_code == 201, resp.text

    def start(self) -> None:
        """Start (or restart) serving; the credentials are made on the first start."""
        self.read_default_project()
        if not self.token:
            self.token = self.cli("token", "create", "--project", self.project_id,
                                  "--user", "alice")
        if not self.access_key:
            key = json.loads(self.cli("access-key", "create", "--project", self.project_id,
                                      "--user", "alice", "--json"))
            self.access_key, self.secret_key = key["access_key"], key["secret_key"]
        self.launch()

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


def new_server(tmp_path: Path, index: int = 0, **settings: str) -> Server:
    """A server (not started yet) on a fresh data directory under ``tmp_path``."""
    env = dict(os.environ)
    env.update({f"MRSJOBS_{k.upper()}": v for k, v in settings.items()})
    return Server(data_dir=tmp_path / f"data{index}", port=free_port(), env=env,
                  log=tmp_path / f"server{index}.log")


def stop_server(server: ServeProcess) -> None:
    server.close()
