"""The warm SQL engine's server over its life, with a stand-in for Spark's launcher that
listens where it is told (no JVM): started once and found again by another handle,
started anew once it died, stopped when idle and with the engine, nothing left behind.
(The real engine's SQL, kills and crashes: tests/e2e/test_sql_engine.py.)"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mrsjobs.domain.jobs import Job
from mrsjobs.engines.base import ExitStatus, Handle, LaunchSpec, Result
from mrsjobs.engines.spark_connect.engine import SparkConnectEngine, SqlLaunch
from mrsjobs.engines.spark_connect.server import ConnectServer, ServerConfig
from mrsjobs.store.sql_results import StatementResult
from tests.support.procs import kill_leftovers
from tests.support.waiting import wait_for

#: Listens on the port of its ``spark.connect.grpc.binding.port`` conf, until killed.
LAUNCHER = f"""#!{sys.executable}
import socket, sys, time
port = next(int(a.split("=", 1)[1]) for a in sys.argv
            if a.startswith("spark.connect.grpc.binding.port="))
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", port))
s.listen()
while True:
    s.accept()[0].close()
"""


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ConnectServer]:
    launcher = tmp_path / "spark-submit"
    launcher.write_text(LAUNCHER)
    launcher.chmod(0o755)
    yield ConnectServer(ServerConfig(home=tmp_path / "engine", spark_submit=str(launcher),
                                     start_timeout=30, stop_timeout=5))
    kill_leftovers(str(tmp_path))


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    return state not in "ZX"


def test_started_once_found_again_and_replaced_once_dead(server: ConnectServer) -> None:
    pid, port, token = server.ensure_started()
    assert alive(pid) and len(token) >= 32
    assert (server.token_file.stat().st_mode & 0o777) == 0o600
    # Another handle on the same home (a restarted service) finds the same server.
    again = ConnectServer(server.config)
    assert again.ensure_started() == (pid, port, token)
    os.killpg(os.getpgid(pid), signal.SIGKILL)
    wait_for(lambda: not alive(pid))
    new_pid, _, new_token = again.ensure_started()
    assert new_pid != pid and new_token != token
    server.stop()
    wait_for(lambda: not alive(new_pid), timeout=10)
    assert server.running() is None


class Results:
    def save_sql_result(self, job_id: str, result: StatementResult) -> None:
        raise AssertionError("a stand-in engine runs no statement")

    def sql_results_stored(self, job_id: str) -> int:
        return 0

    def job(self, job_id: str) -> Job:
        raise AssertionError(job_id)


class Events:
    def __init__(self) -> None:
        self.ends: dict[str, ExitStatus | Result] = {}

    def started(self, handle: Handle) -> None:
        pass

    def tracked(self, job_id: str, app_id: str, tracking_url: str | None) -> None:
        pass

    def ended(self, job_id: str, end: ExitStatus | Result) -> None:
        self.ends[job_id] = end

    def killed(self, job_id: str, at_ms: int) -> None:
        raise AssertionError(job_id)

    def unwatchable(self, job_id: str, error: Exception) -> None:
        raise AssertionError(error)


async def run_job(engine: SparkConnectEngine, events: Events, job_id: str,
                  tmp_path: Path) -> Result:
    """A job on the stand-in: its session cannot open (no Spark there), so it fails
    with that reason, as a job does whose engine does not answer."""
    await engine.launch(LaunchSpec(job_id, (), tmp_path, tmp_path,
                                   request=SqlLaunch("p", "c", ("select 1",))))
    while job_id not in events.ends:
        await asyncio.sleep(0.05)
    end = events.ends[job_id]
    assert isinstance(end, Result)
    return end


def test_an_idle_engine_stops_and_the_next_job_starts_it(server: ConnectServer,
                                                          tmp_path: Path) -> None:
    async def main() -> None:
        engine = SparkConnectEngine(lambda p, c: server, Results(), idle_s=1.0)
        events = Events()
        await engine.start(events)
        try:
            first = await run_job(engine, events, "j1", tmp_path)
            assert first.outcome.result.value == "FAILED"
            assert (first.outcome.diagnostics or "").startswith("statement 0 of 1 failed")
            found = server.running()
            assert found is not None
            await asyncio.to_thread(wait_for, lambda: server.running() is None, 20)
            assert not alive(found[0])
            await run_job(engine, events, "j2", tmp_path)
            assert server.running() is not None
        finally:
            await engine.close()
        # Stopped with the engine (the service).
        assert server.running() is None

    asyncio.run(main())
