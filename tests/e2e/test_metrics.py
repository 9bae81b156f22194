"""``/metrics`` of a running server: what it counts, and who may read it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest
from cryptography.fernet import Fernet
from prometheus_client.parser import text_string_to_metric_families

from tests.databases import postgres_database
from tests.support.netns import Host, Network
from tests.support.server import FAST, Server, new_server, stop_server
from tests.support.waiting import wait_for

JOB = {"job_type": "SparkSubmit", "job_name": "m", "arguments": ["hdfs:///app.py"]}


def scrape(server: Server, **headers: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape: (name, sorted labels) -> value."""
    resp = httpx.get(server.endpoint + "/metrics", headers=headers, timeout=30)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/plain")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(resp.text) for s in family.samples}


def value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str,
          **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_jobs_latencies_and_failures_are_counted(fast_server: Server) -> None:
    s = fast_server
    where = {"project": s.project_id, "cluster": s.cluster_id}
    with s.client() as c:
        done = s.submit(c, {**JOB, "arguments": ["hdfs:///app.py", "exit=0"]})
        s.wait_state(c, done, "FINISHED")
        running = s.submit(c, {**JOB, "arguments": ["hdfs:///app.py", "sleep=60"]})
        s.wait_state(c, running, "RUNNING")
        # The counts are cached for a moment: wait for them to show the running job.
        samples = wait_for(lambda: (found := scrape(s)) and value(
            found, "mrsjobs_jobs", **where, state="RUNNING") == 1 and found,
            timeout=10, message="the running job counted")
        assert value(samples, "mrsjobs_jobs", **where, state="FINISHED") == 1
        assert value(samples, "mrsjobs_queue_depth", **where) == 0
        assert value(samples, "mrsjobs_dispatch_latency_seconds_count") >= 2
        assert value(samples, "mrsjobs_kill_latency_seconds_count") == 0
        assert value(samples, "mrsjobs_store_seconds_count", statement="select") > 0
        assert value(samples, "mrsjobs_store_seconds_count", statement="update") > 0

        assert c.post(f"{s.jobs_path}/{running}/kill").status_code == 202
        s.wait_state(c, running, "KILLED")
        bad = httpx.get(s.endpoint + s.jobs_path, headers={"X-Auth-Token": "wrong"})
        assert bad.status_code == 401
    after = scrape(s)
    assert value(after, "mrsjobs_kill_latency_seconds_count") == 1
    # Killed within the grace period of this server.
    assert value(after, "mrsjobs_kill_latency_seconds_bucket", le="2.5") == 1
    assert value(after, "mrsjobs_signin_failures_total", method="token") == 1
    assert value(after, "mrsjobs_engine_errors_total", kind="launch") == 0


def test_operator_token_and_launch_errors(server_factory: Callable[..., Server]) -> None:
    s = server_factory(**{**FAST, "spark_submit": "/nonexistent/spark-submit",
                          "metrics": "token", "metrics_token": "op-secret"})
    url = s.endpoint + "/metrics"
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "op-secret"},
                    {"Authorization": "Basic op-secret"}, {"X-Auth-Token": s.token}):
        refused = httpx.get(url, headers=headers, timeout=30)
        assert refused.status_code == 401, headers
        assert refused.headers["www-authenticate"] == "Bearer"
        assert refused.json()["error_code"] == "401"
        assert "mrsjobs_" not in refused.text
    with s.client() as c:
        s.wait_state(c, s.submit(c, JOB), "FAILED")
    samples = scrape(s, Authorization="Bearer op-secret")
    assert value(samples, "mrsjobs_engine_errors_total", kind="launch") == 1
    # The document says how to authenticate for it.
    doc = httpx.get(s.endpoint + "/openapi.json", timeout=30).json()
    assert doc["paths"]["/metrics"]["get"]["security"] == [{"operator": []}]
    assert doc["components"]["securitySchemes"]["operator"]["scheme"] == "bearer"
    assert set(doc["paths"]["/metrics"]["get"]["responses"]) == {"200", "401"}


@pytest.mark.postgres
def test_instances_of_one_database_report_its_jobs_and_their_own_latencies(
        server_factory: Callable[..., Server]) -> None:
    key = Fernet.generate_key().decode()
    with postgres_database() as url:
        first = server_factory(database_url=url, secret_key=key, metrics_ttl_s="0", **FAST)
        second = server_factory(database_url=url, secret_key=key, metrics_ttl_s="0", **FAST)
        try:
            with first.client() as c:
                first.wait_state(c, first.submit(c, JOB), "FINISHED")
            where = {"project": first.project_id, "cluster": first.cluster_id}
            # The store's counts, whichever instance ran the job.
            for server in (first, second):
                assert value(scrape(server), "mrsjobs_jobs", **where, state="FINISHED") == 1
            # Latencies are each process's own: the one that did not start it saw none.
            started = [value(scrape(s), "mrsjobs_dispatch_latency_seconds_count")
                       for s in (first, second)]
            assert sorted(started) == [0, 1]
        finally:
            first.stop()
            second.stop()


def test_metrics_off_is_not_served(server_factory: Callable[..., Server]) -> None:
    s = server_factory(**FAST, metrics="off")
    assert httpx.get(s.endpoint + "/metrics", timeout=30).status_code == 404
    assert "/metrics" not in httpx.get(s.endpoint + "/openapi.json", timeout=30).json()["paths"]


def test_a_client_forwarded_by_a_local_proxy_is_refused(fast_server: Server) -> None:
    """A proxy on this host that names an outside client: the client is what counts."""
    resp = httpx.get(fast_server.endpoint + "/metrics", timeout=30,
                     headers={"X-Forwarded-For": "203.0.113.7"})
    assert resp.status_code == 403
    assert "mrsjobs_" not in resp.text


# -- a client on another host ---------------------------------------------------------


@dataclass
class BridgeServer(Server):
    """A server listening on a private bridge's address instead of loopback."""

    address: str = ""

    @property
    def endpoint(self) -> str:
        return f"http://{self.address}:{self.port}"


@pytest.fixture
def outside() -> Iterator[tuple[Network, Host]]:
    if os.geteuid() != 0 or shutil.which("ip") is None:
        if os.environ.get("CI"):
            pytest.fail("CI needs root and iproute2 for the network namespace tests")
        pytest.skip("needs root and iproute2 (ip netns)")
    network = Network("mrsjmx", "10.213.9.0/24", ["client"])
    network.create()
    try:
        yield network, network.hosts["client"]
    finally:
        network.destroy()


def test_a_client_on_another_host_is_refused(outside: tuple[Network, Host],
                                             tmp_path: pytest.TempPathFactory) -> None:
    network, client = outside
    base = new_server(tmp_path, **FAST, host=network.gateway)  # type: ignore[arg-type]
    server = BridgeServer(**{**base.__dict__, "address": network.gateway})
    try:
        server.start()
        probe = ("import httpx, sys; r = httpx.get(sys.argv[1], headers="
                 "{'X-Forwarded-For': '127.0.0.1'}, timeout=10); "
                 "print(r.status_code); print(r.text)")
        out = subprocess.run(client.argv(sys.executable, "-c", probe,
                                         server.endpoint + "/metrics"),
                             capture_output=True, text=True, timeout=60, check=True).stdout
        status, _, body = out.partition("\n")
        # Not loopback, and its claim to forward for a loopback client is not believed.
        assert status == "403", out
        assert "loopback clients only" in body and "mrsjobs_" not in body
        # The same server answers the API to that host: only /metrics is closed.
        api = ("import httpx, sys; print(httpx.get(sys.argv[1], timeout=10).status_code)")
        out = subprocess.run(client.argv(sys.executable, "-c", api, server.endpoint + "/v3"),
                             capture_output=True, text=True, timeout=60, check=True).stdout
        assert out.strip() == "200"
    finally:
        stop_server(server)
