"""A detached daemon's home (engines/local/daemon.py) and its watchdog: a daemon that a
service left behind ends once no service beats its heartbeat, and not before."""

from __future__ import annotations

import os
import signal
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from mrsjobs.engines.local import watchdog
from mrsjobs.engines.local.daemon import DaemonHome
from mrsjobs.engines.local.detached import Heartbeat
from tests.support.procs import kill_leftovers
from tests.support.waiting import wait_for


class DaemonFailed(Exception):
    pass


#: On the command line of this module's daemons: how their home recognises them.
MARKER = f"mrsjobs-test-daemon-{uuid.uuid4().hex}"
SLEEPER = [sys.executable, "-c", "import time; time.sleep(600)", MARKER]


@pytest.fixture
def home(tmp_path: Path) -> Iterator[DaemonHome]:
    daemon = DaemonHome(tmp_path / "home", "sleeper", lambda args: MARKER.encode() in args,
                        DaemonFailed)
    daemon.home.mkdir()
    yield daemon
    Heartbeat.stop(daemon.heartbeat_file)
    kill_leftovers(MARKER)


def test_a_daemon_no_service_beats_for_ends_itself(home: DaemonHome) -> None:
    with home.locked():
        pid, offset = home.launch(SLEEPER, cwd=home.home, env=os.environ, idle_s=0.5)
    assert home.find_pid() == pid
    # Nobody touches the heartbeat: the watchdog stops the daemon, and then itself.
    wait_for(lambda: not home.processes(), timeout=30, message="the daemon to end")
    assert "no heartbeat for 0.5 s" in home.log_tail(offset)


def test_a_beating_service_keeps_it_and_its_stop_ends_both(home: DaemonHome) -> None:
    Heartbeat.start(home.heartbeat_file, 0.5)
    with home.locked():
        pid, _ = home.launch(SLEEPER, cwd=home.home, env=os.environ, idle_s=0.5)
    started = home.heartbeat_file.stat().st_mtime
    # Several idle periods pass, each with beats: the daemon stays.
    wait_for(lambda: home.heartbeat_file.stat().st_mtime > started + 2.0, timeout=30,
             message="beats for 2 s")
    running = home.processes()
    assert pid in running and len(running) == 2  # the watchdog and the daemon under it
    home.stop(stop_timeout=10)
    assert home.processes() == [] and home.find_pid() is None


def test_the_service_leaving_for_good_ends_it(home: DaemonHome) -> None:
    Heartbeat.start(home.heartbeat_file, 0.5)
    with home.locked():
        home.launch(SLEEPER, cwd=home.home, env=os.environ, idle_s=0.5)
    wait_for(lambda: len(home.processes()) == 2, timeout=30)
    Heartbeat.stop(home.heartbeat_file)  # what a crash of the service amounts to
    wait_for(lambda: not home.processes(), timeout=30, message="the daemon to end")


def test_the_daemon_dies_with_its_watchdog(home: DaemonHome) -> None:
    with home.locked():
        pid, _ = home.launch(SLEEPER, cwd=home.home, env=os.environ, idle_s=600)
    wait_for(lambda: len(home.processes()) == 2, timeout=30)
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not home.processes(), timeout=30, message="the daemon to end")


def test_the_watchdog_exits_as_its_daemon_did(tmp_path: Path) -> None:
    beat = tmp_path / "beat"
    beat.touch()
    assert watchdog.main(["--heartbeat", str(beat), "--idle", "60", "--",
                          sys.executable, "-c", "raise SystemExit(3)"]) == 3
