"""The namespaced Spark standalone cluster and the REST client against it: drivers run
on the workers in cluster deploy mode, reached over the private bridge only; a kill
through REST ends the driver on its worker, as the master confirms.

The cluster is the session's (``spark_cluster``); the teardown tests at the end build
small networks of their own under other prefixes, without JVMs.
"""

from __future__ import annotations

import base64
import ipaddress
import os
import secrets
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest

from mrsjobs.containment.tenants import NETNS_DIR, connects
from mrsjobs.engines.spark_standalone.master import MasterState
from mrsjobs.engines.spark_standalone.rest import (
    PYTHON_RUNNER,
    CreateRequest,
    DriverState,
    DriverStatus,
    SparkRest,
    SparkRestError,
    jvm_app,
    python_app,
    read_key,
)
from tests.fixtures.sparkapp.build import COUNT_PY, PI, SLEEP
from tests.support.netns import Network, ip
from tests.support.procs import processes
from tests.support.spark_cluster import (
    MARKER,
    MASTER_PORT,
    REST_PORT,
    SparkCluster,
    marked,
)
from tests.support.waiting import wait_for

pytestmark = pytest.mark.spark

#: Driver and executor of one app fit one worker (1g), beside the driver's own core.
SMALL = {"spark.driver.memory": "512m", "spark.executor.memory": "512m",
         "spark.driver.cores": "1", "spark.ui.enabled": "false",
         "spark.driver.extraJavaOptions": "-XX:+UseSerialGC -XX:TieredStopAtLevel=1"}
APP_TIMEOUT_S = 120


def _name(kind: str) -> str:
    return f"{kind}-{uuid.uuid4().hex[:8]}"


def _submit(rest: SparkRest, request: CreateRequest) -> tuple[str, DriverStatus, float]:
    """Create the driver; (its id, its first RUNNING status, seconds create -> RUNNING)."""
    t0 = time.perf_counter()
    driver_id = rest.create(request).driver_id

    def running() -> DriverStatus | None:
        status = rest.status(driver_id)
        assert status.state is None or not status.state.terminal, status
        return status if status.state is DriverState.RUNNING else None

    status = wait_for(running, timeout=30, interval=0.005, message=f"{driver_id} RUNNING")
    return driver_id, status, time.perf_counter() - t0


def _ended(rest: SparkRest, driver_id: str) -> DriverStatus:
    def terminal() -> DriverStatus | None:
        status = rest.status(driver_id)
        return status if status.state is not None and status.state.terminal else None

    return wait_for(terminal, timeout=APP_TIMEOUT_S, interval=0.1, message=f"{driver_id} ended")


def _driver_dir(cluster: SparkCluster, status: DriverStatus) -> Path:
    assert status.worker_host is not None
    return cluster.work_dir(cluster.worker_at(status.worker_host)) / status.driver_id


def _app_id(driver_dir: Path) -> str:
    """The application id, as the driver logs it once connected to the master."""
    for line in (driver_dir / "stderr").read_text().splitlines():
        if "Connected to Spark cluster with app ID " in line:
            return line.rsplit(" ", 1)[1]
    raise AssertionError(f"no application id in {driver_dir / 'stderr'}")


def _running_under(directory: Path) -> list[int]:
    return [p.pid for p in processes() if p.running and p.works_in(str(directory))]


def _listeners(netns: str) -> list[tuple[str, str]]:
    """(local address, process) of every TCP listener inside ``netns``."""
    out = subprocess.run(["ip", "netns", "exec", netns, "ss", "-Hltnp"], capture_output=True,
                         text=True, timeout=10, check=True).stdout
    found = []
    for line in out.splitlines():
        fields = line.split()
        host = fields[3].rsplit(":", 1)[0].strip("[]").removeprefix("::ffff:")
        found.append((host, fields[-1] if len(fields) > 5 else ""))
    return found


@pytest.fixture
def rest(spark_cluster: SparkCluster) -> Iterator[SparkRest]:
    with spark_cluster.rest() as client:
        yield client


@pytest.fixture
def state(spark_cluster: SparkCluster) -> MasterState:
    with spark_cluster.ui() as ui:
        return ui.state()


def test_cluster_is_reached_over_the_bridge_only(spark_cluster: SparkCluster,
                                                 state: MasterState) -> None:
    master = spark_cluster.master
    assert not ipaddress.ip_address(master.address).is_loopback
    assert f"dev {spark_cluster.network.bridge}" in ip("route", "get", master.address)
    # Two workers, on their own namespaces' addresses, with the cores and memory given.
    assert sorted(w.host for w in state.alive_workers) == sorted(
        w.address for w in spark_cluster.workers)
    assert (state.cores, state.memory_mb, state.status) == (4, 2048, "ALIVE")
    # Every daemon listens on its namespace's address alone: nothing on loopback or
    # on all interfaces.
    for host in (master, *spark_cluster.workers):
        listeners = _listeners(host.netns)
        assert listeners and {a for a, _ in listeners} == {host.address}, listeners
    # A worker reaches the master over the bridge, and not through its own loopback.
    w1 = NETNS_DIR / spark_cluster.workers[0].netns
    assert connects(w1, master.address, MASTER_PORT)
    assert not connects(w1, "127.0.0.1", MASTER_PORT)
    assert not connects(NETNS_DIR / master.netns, "127.0.0.1", REST_PORT)
    assert rest_ready(spark_cluster)


def rest_ready(cluster: SparkCluster) -> bool:
    with cluster.rest() as client:
        readiness = client.readyz()
    return readiness.ready and readiness.server_version == "4.3.0"


def test_jvm_app_runs_its_driver_on_a_worker(spark_cluster: SparkCluster, rest: SparkRest,
                                            sparkapp_jar: Path) -> None:
    name = _name("pi")
    request = jvm_app(master=spark_cluster.master_url, app_name=name, jar=sparkapp_jar,
                      main_class=PI, args=["4"], properties=SMALL)
    driver_id, running, took = _submit(rest, request)
    print(f"\nraw REST create -> RUNNING (JVM): {took * 1000:.1f} ms")
    assert running.worker_host in {w.address for w in spark_cluster.workers}

    ended = _ended(rest, driver_id)
    driver_dir = _driver_dir(spark_cluster, ended)
    assert ended.state is DriverState.FINISHED, (driver_dir / "stderr").read_text()[-3000:]
    assert "Pi is roughly 3.1" in (driver_dir / "stdout").read_text()
    with spark_cluster.ui() as ui:
        state = ui.state()
    driver = state.driver(driver_id)
    assert driver is not None and driver.state is DriverState.FINISHED
    assert not state.driver_active(driver_id)
    app = state.app(_app_id(driver_dir))
    assert app is not None and app.state == "FINISHED"
    # Its executors ran on the workers (each keeps a directory per application).
    assert any((spark_cluster.work_dir(w) / app.id).is_dir() for w in spark_cluster.workers)


def test_python_app_runs_through_python_runner(spark_cluster: SparkCluster,
                                               rest: SparkRest) -> None:
    request = python_app(master=spark_cluster.master_url, app_name=_name("count"),
                         script=COUNT_PY, python=sys.executable, args=["100000"],
                         properties=SMALL)
    assert request.main_class == PYTHON_RUNNER
    driver_id, _, took = _submit(rest, request)
    print(f"\nraw REST create -> RUNNING (Python): {took * 1000:.1f} ms")
    ended = _ended(rest, driver_id)
    driver_dir = _driver_dir(spark_cluster, ended)
    assert ended.state is DriverState.FINISHED, (driver_dir / "stderr").read_text()[-3000:]
    assert "COUNT 100000" in (driver_dir / "stdout").read_text()


def test_kill_ends_the_driver_on_its_worker(spark_cluster: SparkCluster, rest: SparkRest,
                                           sparkapp_jar: Path) -> None:
    name = _name("sleep")
    request = jvm_app(master=spark_cluster.master_url, app_name=name, jar=sparkapp_jar,
                      main_class=SLEEP, args=["600", "2"], properties=SMALL)
    driver_id, running, took = _submit(rest, request)
    print(f"\nraw REST create -> RUNNING (JVM sleep): {took * 1000:.1f} ms")
    driver_dir = _driver_dir(spark_cluster, running)
    stdout = driver_dir / "stdout"
    wait_for(lambda: stdout.is_file() and "SLEEP_READY" in stdout.read_text(),
             timeout=APP_TIMEOUT_S, interval=0.05, message="SparkContext up")
    app_id = stdout.read_text().split("SLEEP_READY", 1)[1].split()[0]
    executors = [spark_cluster.work_dir(w) / app_id for w in spark_cluster.workers]
    wait_for(lambda: any(_running_under(d) for d in executors), timeout=APP_TIMEOUT_S,
             interval=0.05, message="an executor running on a worker")
    assert _running_under(driver_dir)

    t0 = time.perf_counter()
    answer = rest.kill(driver_id)
    assert answer.accepted, answer
    wait_for(lambda: rest.status(driver_id).state is DriverState.KILLED, timeout=30,
             interval=0.005, message=f"{driver_id} KILLED")
    killed = time.perf_counter() - t0
    wait_for(lambda: not _running_under(driver_dir), timeout=10, interval=0.01,
             message="driver process gone from its worker")
    gone = time.perf_counter() - t0
    print(f"\nraw REST kill -> KILLED: {killed * 1000:.0f} ms, driver gone: {gone * 1000:.0f} ms")

    # The master confirms it: the driver is no longer active, its application ended,
    # and the executors are gone from the worker hosts.
    def confirmed() -> bool:
        with spark_cluster.ui() as ui:
            state = ui.state()
        driver = state.driver(driver_id)
        return (driver is not None and driver.state is DriverState.KILLED
                and not state.driver_active(driver_id) and not state.app_active(app_id))

    wait_for(confirmed, timeout=15, interval=0.05, message="master confirms the kill")
    wait_for(lambda: not any(_running_under(d) for d in executors), timeout=15,
             interval=0.05, message="executors gone")
    assert not rest.kill(driver_id).accepted  # already ended: nothing to pass on


def test_failing_app_and_unknown_drivers(spark_cluster: SparkCluster, rest: SparkRest,
                                         sparkapp_jar: Path) -> None:
    request = jvm_app(master=spark_cluster.master_url, app_name=_name("bad"), jar=sparkapp_jar,
                      main_class="mrsjobs.fixtures.spark.NoSuchApp", properties=SMALL)
    driver_id = rest.create(request).driver_id
    ended = _ended(rest, driver_id)
    assert ended.state in (DriverState.FAILED, DriverState.ERROR), ended

    unknown = rest.status("driver-20000101000000-9999")
    assert not unknown.found and unknown.state is None
    assert not rest.kill("driver-20000101000000-9999").accepted
    with pytest.raises(SparkRestError, match="not a driver id"):
        rest.status("../../json")


def test_unreachable_master_is_an_error_with_the_reason(spark_cluster: SparkCluster) -> None:
    # An address on the bridge where nothing runs: refused or timed out, never hung.
    url = f"http://{spark_cluster.network.gateway}:{REST_PORT}"
    with SparkRest(url, timeout=2) as rest, pytest.raises(SparkRestError) as caught:
        rest.readyz()
    assert caught.value.unreachable and "unreachable" in caught.value.reason


# -- the REST server's signed calls (Spark's JWSFilter) ---------------------------------


def _refused(cluster: SparkCluster, authorization: str | None) -> list[int]:
    """The statuses of a create, a status, a kill and a readiness call sent with
    ``authorization`` (a whole header value, or none) to the session's master."""
    headers = {"Authorization": authorization} if authorization else {}
    request = jvm_app(master=cluster.master_url, app_name="intruder",
                      jar=Path("/nonexistent.jar"), main_class="Evil", args=[])
    base = f"{cluster.rest_url}/v1/submissions"
    with httpx.Client(timeout=10, trust_env=False, headers=headers) as http:
        return [http.post(f"{base}/create", json=request.body()).status_code,
                http.get(f"{base}/status/driver-20000101000000-0000").status_code,
                http.post(f"{base}/kill/driver-20000101000000-0000").status_code,
                http.get(f"{base}/readyz").status_code]


def _token(key: bytes, **claims: object) -> str:
    now = int(time.time())
    return jwt.encode({"iat": now, "exp": now + 60, **claims}, key, "HS256")


def test_the_rest_server_refuses_calls_not_signed_with_its_key(
        spark_cluster: SparkCluster) -> None:
    """Anyone on the cluster's network (a job's driver on a worker, another host)
    could create, inspect and kill drivers through an open REST server: the session's
    requires a token signed with its key, and the service signs its calls."""
    assert spark_cluster.rest_key_file
    key = read_key(spark_cluster.rest_key_file)
    stranger = secrets.token_bytes(32)
    attempts = {
        "no token": None,
        "another key": f"Bearer {_token(stranger)}",
        "expired": "Bearer " + jwt.encode({"exp": int(time.time()) - 120}, key, "HS256"),
        "unsigned": "Bearer " + jwt.encode({}, None, "none"),
        "forged payload": "Bearer " + ".".join(
            (_token(key).split(".")[0], _token(stranger, sub="root").split(".")[1],
             _token(key).split(".")[2])),
        "basic": "Basic " + base64.b64encode(b"admin:admin").decode(),
    }
    for name, header in attempts.items():
        assert set(_refused(spark_cluster, header)) <= {401, 403}, name
    # The service's client, with the key, is let in (its calls are signed).
    assert rest_ready(spark_cluster)
    with spark_cluster.rest() as rest:
        assert rest.status("driver-20000101000000-0000").state is None
    # Without the key, the same client is told no, with the reason.
    with SparkRest(spark_cluster.rest_url) as unsigned, \
            pytest.raises(SparkRestError) as caught:
        unsigned.status("driver-20000101000000-0000")
    assert caught.value.status in (401, 403) and not caught.value.unreachable


# -- teardown, on networks of their own -------------------------------------------------


def test_network_made_again_after_a_crash_and_removed_with_nothing_left() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    crashed = Network("mrsjtx", "10.213.1.0/24", ["a", "b"])
    crashed.create()
    # A process left running in a namespace, as a crashed run leaves its daemons.
    stray = subprocess.Popen(crashed.hosts["a"].argv("sleep", "600"), start_new_session=True)
    try:
        wait_for(lambda: crashed.hosts["a"].pids(), timeout=10, message="stray in namespace")
        crashed.release()  # its run died: the kernel drops the lock
        again = Network("mrsjtx", "10.213.1.0/24", ["a", "b"])
        again.create()  # removes the leftovers first
        assert stray.wait(timeout=10) != 0
        assert sorted(again.namespaces()) == ["mrsjtx-a", "mrsjtx-b"]
        again.destroy()
        assert again.leftovers() == [] and again.links() == []
    finally:
        stray.kill()
        stray.wait()
        crashed.destroy()


def test_cluster_stop_ends_processes_that_left_their_namespace(tmp_path: Path,
                                                              spark_home: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    cluster = SparkCluster(tmp_path, spark_home, prefix="mrsjty", subnet="10.213.2.0/24")
    # A driver whose namespace is gone still carries the cluster's marker.
    stray = subprocess.Popen(["sleep", "600"], env={**os.environ, MARKER: "mrsjty"},
                             start_new_session=True)
    try:
        assert stray.pid in marked("mrsjty")
        cluster.stop()
        assert stray.wait(timeout=10) != 0
        assert cluster.leftovers() == []
    finally:
        stray.kill()
        stray.wait()
