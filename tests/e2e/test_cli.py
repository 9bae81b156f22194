"""The ``mrsjobs`` client commands as a user runs them, against a real server: login and
the file it keeps, flag-less commands, tables and ``--json``, ``submit --wait``'s exit
codes, ``logs`` and ``logs -f`` over the API, ``watch``, and one-line errors."""

from __future__ import annotations

import json
import re
import signal
import stat
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.server import FAST, PYTHON, Server, new_server, stop_server
from tests.support.waiting import wait_for

PASSWORD = "carol-pw-1"


@dataclass
class Cli:
    server: Server
    home: Path

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in self.server.env.items() if not k.startswith("MRSJOBS_")}
        return env | {"XDG_CONFIG_HOME": str(self.home), "COLUMNS": "200"}

    def argv(self, *args: str) -> list[str]:
        return [PYTHON, "-m", "mrsjobs.cli", *args]

    def run(self, *args: str, stdin: str = "", timeout: float = 60
            ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.argv(*args), input=stdin, capture_output=True, text=True,
                              env=self.env, timeout=timeout)

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(self.argv(*args), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=self.env)

    def login(self) -> subprocess.CompletedProcess[str]:
        s = self.server
        return self.run("login", "--endpoint", s.endpoint, "--project", s.project_id,
                        "--cluster", s.cluster_id, "--user", "carol", "--password-stdin",
                        stdin=PASSWORD + "\n")

    @property
    def config(self) -> Path:
        return self.home / "mrsjobs" / "config.json"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = new_server(tmp_path_factory.mktemp("cli"), **FAST)
    try:
        server.start()
        server.cli("user", "create", "--project", server.project_id, "--name", "carol",
                   "--password", PASSWORD)
        yield server
    finally:
        stop_server(server)


@pytest.fixture
def cli(served: Server, tmp_path: Path) -> Cli:
    """A user with a home of their own, logged in."""
    user = Cli(served, tmp_path / "config")
    done = user.login()
    assert done.returncode == 0, done.stderr
    return user


def one_line_error(done: subprocess.CompletedProcess[str], code: str | None = None) -> None:
    """Exit 1, and ``error_code: error_msg`` as the one line on stderr."""
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert re.match(f"{re.escape(code) if code else '[^ :]+'}: .", lines[0]), done.stderr


def spark_args(*markers: str) -> list[str]:
    return ["--type", "SparkSubmit", "--name", "cli_job", "hdfs:///app.py", *markers]


def test_login_keeps_a_private_file_without_the_password(cli: Cli) -> None:
    mode = stat.S_IMODE(cli.config.stat().st_mode)
    assert mode == 0o600, oct(mode)
    assert stat.S_IMODE(cli.config.parent.stat().st_mode) == 0o700
    kept = json.loads(cli.config.read_text())
    s = cli.server
    assert (kept["endpoint"], kept["project"], kept["cluster"], kept["user"]) == (
        s.endpoint, s.project_id, s.cluster_id, "carol")
    assert kept["token"] and PASSWORD not in cli.config.read_text()
    # The kept token is a working one.
    with s.client(kept["token"]) as c:
        assert c.get(s.jobs_path).status_code == 202


def test_login_with_a_wrong_password_says_so_in_one_line(served: Server,
                                                         tmp_path: Path) -> None:
    user = Cli(served, tmp_path)
    done = user.run("login", "--endpoint", served.endpoint, "--project", served.project_id,
                    "--cluster", served.cluster_id, "--user", "carol", "--password-stdin",
                    stdin="wrong\n")
    one_line_error(done)
    assert not user.config.exists()


def test_flagless_list_table_and_json(cli: Cli) -> None:
    s = cli.server
    done = cli.run("submit", "--wait", *spark_args())
    assert done.returncode == 0, done.stderr
    table = cli.run("list")
    assert table.returncode == 0, table.stderr
    assert "cli_job" in table.stdout and "SUCCEEDED" in table.stdout
    assert "job id" in table.stdout and "diagnostics" in table.stdout
    as_json = json.loads(cli.run("list", "--json").stdout)
    with s.client() as c:
        direct = c.get(s.jobs_path).json()
    assert as_json == direct
    job_id = direct["job_list"][0]["job_id"]
    shown = json.loads(cli.run("show", job_id, "--json").stdout)
    assert shown["job_detail"]["job_id"] == job_id
    assert job_id in cli.run("show", job_id).stdout


def test_submit_wait_exits_with_the_result(cli: Cli) -> None:
    ok = cli.run("submit", "--wait", *spark_args())
    assert ok.returncode == 0, ok.stderr
    assert "RUNNING" in ok.stderr or "FINISHED" in ok.stderr
    assert "SUCCEEDED" in ok.stderr

    failed = cli.run("submit", "--wait", "--json", *spark_args("exit=3"))
    assert failed.returncode == 1, failed.stderr
    detail = json.loads(failed.stdout)["job_detail"]
    assert (detail["job_result"], detail["diagnostics"]) == ("FAILED", "exit code 3")
    assert "exit code 3" in failed.stderr

    waiting = cli.popen("submit", "--wait", *spark_args("sleep=60"))
    s = cli.server
    with s.client() as c:
        job = wait_for(lambda: next((j for j in c.get(s.jobs_path).json()["job_list"]
                                     if j["job_state"] == "RUNNING"), None), timeout=30)
        killed = cli.run("kill", job["job_id"])
        assert killed.returncode == 0 and "kill requested" in killed.stderr
    _, err = waiting.communicate(timeout=60)
    assert waiting.returncode == 3, err
    assert "RUNNING" in err and "KILLED" in err


def test_logs_and_logs_follow_over_the_api(cli: Cli) -> None:
    s = cli.server
    job_id = cli.run("submit", *spark_args("sleep=1", "ticks=5")).stdout.strip()
    follower = cli.popen("logs", "-f", job_id)
    out, err = follower.communicate(timeout=60)
    assert follower.returncode == 0, err
    run_dir = s.data_dir / "runs" / job_id
    assert out == (run_dir / "stdout.log").read_text() and "tick 4 " in out
    with s.client() as c:
        assert s.job(c, job_id)["job_state"] == "FINISHED"  # it followed to the end
    stderr = cli.run("logs", "--stderr", job_id)
    assert stderr.returncode == 0 and stderr.stdout == (run_dir / "stderr.log").read_text()


def test_watch_shows_a_live_table(cli: Cli) -> None:
    job_id = cli.run("submit", *spark_args("sleep=3")).stdout.strip()
    # As on a terminal: Rich redraws the table in place.
    seen: list[str] = []

    def screen() -> str:
        return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", "".join(seen))

    with subprocess.Popen(cli.argv("watch", "--interval", "0.2"), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, env=cli.env | {
                              "TTY_COMPATIBLE": "1", "TTY_INTERACTIVE": "1"}) as watcher:
        out = watcher.stdout
        assert out is not None
        reader = threading.Thread(target=lambda: seen.extend(iter(out.readline, "")),
                                  daemon=True)
        reader.start()
        try:
            wait_for(lambda: job_id[:8] in screen() and "SUCCEEDED" in screen(), timeout=30,
                     message="the job's end in the table")
            # Drawn again and again, in place.
            wait_for(lambda: len(re.findall(r"\d+ of \d+ jobs", screen())) >= 3,
                     timeout=30, message="redraws")
        finally:
            watcher.send_signal(signal.SIGINT)
            watcher.wait(30)
            reader.join(10)
        assert watcher.returncode == 0, screen()


def test_errors_are_one_line_and_a_dead_token_says_log_in(cli: Cli) -> None:
    one_line_error(cli.run("show", "nosuchjob"), "0176")
    kept = json.loads(cli.config.read_text())
    resp = httpx.delete(f"{cli.server.endpoint}/v3/auth/tokens", headers={
        "X-Auth-Token": kept["token"], "X-Subject-Token": kept["token"]})
    assert resp.status_code == 204, resp.text
    done = cli.run("list")
    one_line_error(done)
    assert "mrsjobs login" in done.stderr
    # Flags and the environment still override what login kept.
    token = cli.server.token
    assert cli.run("list", "--token", token).returncode == 0
    env_run = subprocess.run(cli.argv("list"), capture_output=True, text=True,
                             env=cli.env | {"MRSJOBS_TOKEN": token}, timeout=60)
    assert env_run.returncode == 0, env_run.stderr


def test_no_login_no_flags_says_what_to_do(served: Server, tmp_path: Path) -> None:
    done = Cli(served, tmp_path).run("list")
    assert done.returncode != 0 and "mrsjobs login" in done.stderr
    assert "Traceback" not in done.stderr
