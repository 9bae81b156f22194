"""The shim bounds each job log: head + one marker line + tail, the exit code kept, a
chatty job never slowed to the shim's pace, and a kill as fast as ever."""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mrsjobs.cli import main as cli
from mrsjobs.domain.jobs import ExitStatus
from mrsjobs.engines.base import Handle, LaunchSpec
from mrsjobs.engines.local.engine import ProcessEngine
from mrsjobs.engines.local.shim import CappedLog, read_log, tail_parts
from tests.support.procs import kill_leftovers, processes_with
from tests.support.server import FAKE_TOOL
from tests.support.waiting import wait_for

CAP = 1 << 20
MARKER = re.compile(rb"\[mrsjobs: (\d+) bytes of (stdout|stderr) dropped here[^\n]*\]\n")


@pytest.fixture
def tmp(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    kill_leftovers(str(tmp_path))


def spec(tmp: Path, job_id: str, script: str) -> LaunchSpec:
    run_dir = tmp / job_id
    run_dir.mkdir()
    return LaunchSpec(job_id, ("bash", "-c", script), run_dir, run_dir, dict(os.environ))


def run_job(tmp: Path, job_id: str, script: str) -> tuple[ExitStatus, Path]:
    async def scenario() -> tuple[ExitStatus, Path]:
        engine = ProcessEngine(max_log_bytes=CAP)
        try:
            handle = await engine.launch(spec(tmp, job_id, script))
            return await engine.wait(handle), handle.run_dir
        finally:
            await engine.close()

    return asyncio.run(asyncio.wait_for(scenario(), 60))


def numbered(start: int, stop: int) -> bytes:
    return b"".join(b"line %07d\n" % i for i in range(start, stop))


def test_a_log_over_the_cap_keeps_head_marker_and_tail(tmp: Path) -> None:
    # 300,000 numbered lines (3.6 MB) on stdout, a short line on stderr, exit 3.
    script = "seq -f 'line %07g' 0 299999; echo oops >&2; exit 3"
    status, run_dir = run_job(tmp, "chatty", script)
    assert status.exit_code == 3
    assert (run_dir / "stderr.log").read_bytes() == b"oops\n"
    out = (run_dir / "stdout.log").read_bytes()
    everything = numbered(0, 300000)
    match = MARKER.search(out)
    assert match is not None and match.group(2) == b"stdout"
    head, tail = out[:match.start()], out[match.end():]
    half = CAP // 2
    # The head ends mid-line, so the marker starts a line of its own.
    assert head == everything[:half] + b"\n"
    assert tail == everything[-(CAP - half):]
    assert int(match.group(1)) == len(everything) - CAP
    assert len(MARKER.findall(out)) == 1


def test_a_log_under_the_cap_is_whole(tmp: Path) -> None:
    status, run_dir = run_job(tmp, "quiet", "seq -f 'line %07g' 0 999; exit 0")
    assert status.exit_code == 0
    assert (run_dir / "stdout.log").read_bytes() == numbered(0, 1000)


def test_the_job_does_not_wait_for_the_shim(tmp: Path) -> None:
    # 200 MB as fast as the job can write: the shim keeps draining past the cap.
    t0 = time.monotonic()
    status, run_dir = run_job(tmp, "flood", "head -c 200000000 /dev/zero; exit 0")
    assert status.exit_code == 0
    assert time.monotonic() - t0 < 30
    size = (run_dir / "stdout.log").stat().st_size
    assert CAP < size < CAP + 200


def test_a_killed_chatty_job_dies_fast(tmp: Path) -> None:
    async def scenario() -> tuple[ExitStatus, float, int]:
        engine = ProcessEngine(max_log_bytes=CAP)
        try:
            handle = await engine.launch(spec(tmp, "yes", "yes 'all work and no play'"))
            log = handle.run_dir / "stdout.log"
            await asyncio.to_thread(wait_for, lambda: any(
                k >= 1 for k, _ in tail_parts(str(log))), 20, message="output past the cap")
            t0 = time.monotonic()
            assert await engine.signal(handle, force=False)
            status = await engine.wait(handle)
            return status, time.monotonic() - t0, log.stat().st_size
        finally:
            await engine.close()

    status, took, size = asyncio.run(asyncio.wait_for(scenario(), 60))
    assert status.signal == 15
    assert took < 2.0
    assert CAP < size < CAP + 200


def test_capped_log_alone(tmp_path: Path) -> None:
    log = CappedLog(str(tmp_path / "x.log"), "stdout", 10)
    for chunk in (b"abc", b"defgh\n", b"ijklmnop", b"qrstuvwxyz"):
        log.write(chunk)
    log.close()
    assert (tmp_path / "x.log").read_bytes() == (
        b"abcde\n[mrsjobs: 17 bytes of stdout dropped here; the first 5 and the last 5 "
        b"bytes are kept]\nvwxyz")


def test_the_latest_output_is_on_disk_while_the_job_writes(tmp_path: Path) -> None:
    path = tmp_path / "stdout.log"
    log = CappedLog(str(path), "stdout", 10)  # head 5, tail 5
    log.write(b"abcdefg")
    assert read_log(str(path)) == b"abcdefg"  # under the cap: all of it
    log.write(b"hijkl")
    assert read_log(str(path)) == b"abcdefghijkl"
    log.write(b"mnopqrstu")
    # Parts 0 (fghij) and 1 (klmno) are gone; parts 2 (pqrst) and 3 (u) hold the tail.
    running = (b"abcde\n[mrsjobs: 10 bytes of stdout dropped here so far; the job is "
               b"still writing]\npqrstu")
    assert read_log(str(path)) == running
    assert sum(f.stat().st_size for f in tmp_path.iterdir()) <= 5 + 2 * 5
    log.close()
    assert read_log(str(path)) == (
        b"abcde\n[mrsjobs: 11 bytes of stdout dropped here; the first 5 and the last 5 "
        b"bytes are kept]\nqrstu")


def test_a_finished_log_leaves_no_parts(tmp_path: Path) -> None:
    for size in (3, 7, 10, 11, 37):
        path = tmp_path / f"x{size}.log"
        log = CappedLog(str(path), "stderr", 10)
        data = bytes(range(97, 97 + size))
        for i in range(0, size, 4):
            log.write(data[i:i + 4])
        log.close()
        assert [p.name for p in tmp_path.iterdir() if ".part" in p.name] == []
        out = path.read_bytes()
        assert read_log(str(path)) == out
        if size <= 10:
            assert out == data
        else:
            assert out.startswith(data[:5]) and out.endswith(data[-5:])
            assert f"{size - 10} bytes of stderr dropped".encode() in out


def test_logs_command_shows_a_running_job_s_latest_lines(
        tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    async def scenario() -> str:
        engine = ProcessEngine(max_log_bytes=CAP)
        runs = tmp / "runs"
        runs.mkdir()
        try:
            run_dir = runs / "live"
            run_dir.mkdir()
            handle = await engine.launch(LaunchSpec(
                "live", ("bash", "-c", "seq -f 'line %07g' 0 299999; echo LATEST; sleep 60"),
                run_dir, run_dir, dict(os.environ)))

            def shows_latest() -> bool:
                assert cli.main(["logs", "--data-dir", str(tmp), "live"]) == 0
                return capsys.readouterr().out.endswith("LATEST\n")

            await asyncio.to_thread(wait_for, shows_latest, 20)
            assert await engine.signal(handle, force=False)
            await engine.wait(handle)
            assert cli.main(["logs", "--data-dir", str(tmp), "live"]) == 0
            return capsys.readouterr().out
        finally:
            await engine.close()

    out = asyncio.run(asyncio.wait_for(scenario(), 60))
    assert out.startswith("line 0000000\n") and out.endswith("line 0299999\nLATEST\n")
    assert MARKER.search(out.encode())
    assert len(out) < CAP + 200


def test_the_whole_tree_dies_though_an_orphan_holds_the_pipe(tmp: Path) -> None:
    """An orphan in a new session keeps the job's stdout open: the shim sweeps it
    before it waits for the end of the log."""
    async def scenario() -> tuple[ExitStatus, float]:
        engine = ProcessEngine(max_log_bytes=CAP)
        try:
            s = LaunchSpec("tree", (str(FAKE_TOOL), "spawn", "orphan", "sleep=60"),
                           tmp / "tree", tmp / "tree", dict(os.environ))
            s.run_dir.mkdir()
            handle = await engine.launch(s)
            await asyncio.to_thread(wait_for, lambda: len(processes_with(str(tmp))) >= 3, 20)
            t0 = time.monotonic()
            assert await engine.signal(handle, force=False)
            status = await engine.wait(handle)
            return status, time.monotonic() - t0
        finally:
            await engine.close()

    status, took = asyncio.run(asyncio.wait_for(scenario(), 60))
    assert status.signal == 15
    assert took < 2.0
    assert processes_with(str(tmp)) == []
    assert "argv: spawn orphan sleep=60" in (tmp / "tree" / "stdout.log").read_text()


def test_a_capped_job_outlives_the_engine(tmp: Path) -> None:
    """The shim, not the service, drains the pipes: the log grows with no engine."""
    async def first() -> Handle:
        engine = ProcessEngine(max_log_bytes=CAP)
        handle = await engine.launch(
            spec(tmp, "survivor", "while :; do echo tick; sleep 0.01; done"))
        await engine.close()
        return handle

    handle = asyncio.run(asyncio.wait_for(first(), 60))
    log = handle.run_dir / "stdout.log"
    size = wait_for(lambda: log.stat().st_size, 10)
    wait_for(lambda: log.stat().st_size > size + 100, 10, message="the log to grow")
    later = ProcessEngine(poll_interval_s=0.05)

    async def second() -> ExitStatus:
        attached = later.attach("survivor", handle.run_dir)
        assert attached is not None
        assert await later.signal(attached, force=False)
        try:
            return await later.wait(attached)
        finally:
            await later.close()

    status = asyncio.run(asyncio.wait_for(second(), 60))
    assert status.signal == 15
    assert log.read_text().startswith("tick\n")
