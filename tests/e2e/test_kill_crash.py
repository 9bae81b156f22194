"""An accepted kill survives a crash at the worst instant: the service dies right after
its signal went out. The crash is staged with the supervisor's test gate
(``MRSJOBS_TEST_KILL_GATE``): the service stops there until it is SIGKILLed."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from mrsjobs.supervisor.loop import KILL_GATE_ENV
from tests.e2e.test_recovery import LAUNCHES, crash, restartable, spark
from tests.support.procs import processes_with
from tests.support.server import Server
from tests.support.waiting import wait_for


@pytest.mark.parametrize("attempt", range(3))
def test_a_kill_signalled_just_before_a_crash_ends_killed(
        server_factory: Callable[..., Server], tmp_path: Path, attempt: int) -> None:
    gate = tmp_path / "gate"
    server = restartable(server_factory, test_kill_gate=str(gate))
    started = server.area_path("launches")
    with server.client() as c:
        job_id = server.submit(c, spark("victim", LAUNCHES, "sleep=60"))
        # The job itself runs (not only its sandbox): a SIGTERM now ends it.
        wait_for(started.exists, timeout=30, message="the job to run")
        assert c.post(f"{server.jobs_path}/{job_id}/kill").status_code == 202
    wait_for(gate.exists, message="the signal to go out")
    assert gate.read_text() == job_id
    crash(server)
    run_dir = server.data_dir / "runs" / job_id
    # The signal reached the job: it ends while no service is up.
    wait_for((run_dir / "exit.json").exists, message="the job to die of the signal")
    ended = json.loads((run_dir / "exit.json").read_text())
    assert ended["exit_code"] != 0 or ended["signal"] is not None
    del server.env[KILL_GATE_ENV]
    server.start()
    with server.client() as c:
        job = server.wait_state(c, job_id, "KILLED", "FINISHED", "FAILED", timeout=15)
    assert (job["job_state"], job["job_result"]) == ("KILLED", "KILLED")
    assert processes_with(str(run_dir)) == []
