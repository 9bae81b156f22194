"""Shared benchmark tools.

A real ``mrsjobs serve`` in a temporary data directory (free port, env overrides, a
token), persistent ``httpx`` clients, process-tree inspection through ``/proc``,
percentiles and the one JSON line each benchmark prints.

Everything a benchmark starts runs with its working directory (or a command-line
argument) under the benchmark's temporary directory, so that one sweep of ``/proc``
finds and kills every leftover: the servers, the service's launcher zygote and
shims, the jobs, and the baseline's own processes. The sweep runs on normal exit,
on an exception, on Ctrl-C and on SIGTERM.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import shutil
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, Literal, TypeVar

import httpx

T = TypeVar("T")

PYTHON = sys.executable
TERMINAL_STATES = frozenset({"FINISHED", "FAILED", "KILLED"})
_T_START = time.monotonic()


# -- small things ---------------------------------------------------------------------


def log(message: str) -> None:
    """Progress goes to stderr; stdout carries only the result line."""
    print(f"[{time.monotonic() - _T_START:8.2f}s] {message}", file=sys.stderr, flush=True)


def emit(result: Mapping[str, Any]) -> None:
    """The benchmark's one line on stdout."""
    sys.stdout.write(json.dumps(result, separators=(",", ":")) + "\n")
    sys.stdout.flush()


class Timeout(Exception):
    pass


def wait_for(predicate: Callable[[], T | Literal[False] | None], timeout: float,
             interval: float = 0.001, message: str = "condition") -> T:
    """Poll ``predicate`` until it returns something truthy; raise after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise Timeout(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def write_script(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def ms(ns: float) -> float:
    return ns / 1e6


def r2(x: float | None) -> float | None:
    return None if x is None else round(x, 2)


def parse_epochrealtime(text: str) -> int:
    """bash's ``$EPOCHREALTIME`` (``1700000000.123456``; ``,`` in some locales) in ns."""
    sec, _, frac = text.strip().replace(",", ".").partition(".")
    return int(sec) * 1_000_000_000 + int((frac + "000000000")[:9])


# -- statistics -----------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return math.nan
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def median(values: Sequence[float]) -> float:
    return percentile(values, 50)


def summary(values: Sequence[float]) -> dict[str, Any]:
    """n, min, p50, p90, p99, max, mean; figures rounded to 0.01."""
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "min": r2(min(values)),
        "p50": r2(percentile(values, 50)),
        "p90": r2(percentile(values, 90)),
        "p99": r2(percentile(values, 99)),
        "max": r2(max(values)),
        "mean": r2(sum(values) / len(values)),
    }


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return round(a / b, 2)


def medians(rows: Iterable[Mapping[str, float | None]]) -> dict[str, float | None]:
    """Per-key medians of a list of dicts of figures (None entries skipped)."""
    cols: dict[str, list[float]] = {}
    for row in rows:
        for key, value in row.items():
            if value is not None:
                cols.setdefault(key, []).append(value)
    return {k: r2(median(v)) for k, v in cols.items()}


# -- /proc ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Proc:
    pid: int
    pgid: int
    state: str
    cwd: str
    cmdline: bytes

    @property
    def live(self) -> bool:
        return self.state not in "ZX"


def _stat_fields(pid: int | str) -> tuple[str, int] | None:
    """(state, pgid) of a process, or None if it is gone.

    A multi-threaded process (a JVM) whose leader thread has exited reads ``Z`` while
    its other threads are still tearing down; it is reported as ``z`` (alive) until
    only the zombie leader is left, so that "not alive" means really gone.
    """
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except OSError:
        return None
    tail = text[text.rindex(")") + 2:].split()
    state = tail[0]
    if state == "Z":
        with contextlib.suppress(OSError):
            if len(os.listdir(f"/proc/{pid}/task")) > 1:
                state = "z"
    return state, int(tail[2])


def processes() -> list[Proc]:
    out: list[Proc] = []
    me = os.getpid()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        fields = _stat_fields(entry.name)
        if fields is None:
            continue
        try:
            cwd = os.readlink(f"/proc/{entry.name}/cwd")
        except OSError:
            cwd = ""
        try:
            with open(f"/proc/{entry.name}/cmdline", "rb") as f:
                cmdline = f.read()
        except OSError:
            cmdline = b""
        out.append(Proc(int(entry.name), fields[1], fields[0], cwd, cmdline))
    return out


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of a process group."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(entry.name)
        if fields is not None and fields[1] == pgid and fields[0] not in "ZX":
            found.append(int(entry.name))
    return found


def pids_gone(pids: Iterable[int], pgid: int) -> bool:
    """Cheap check: none of ``pids`` is alive in group ``pgid`` (pid reuse tolerated)."""
    for pid in pids:
        fields = _stat_fields(pid)
        if fields is not None and fields[1] == pgid and fields[0] not in "ZX":
            return False
    return True


def tree_left(pgid: int, under: str) -> list[int]:
    """Live processes still in group ``pgid`` or working under directory ``under``."""
    return [p.pid for p in processes()
            if p.live and (p.pgid == pgid or p.cwd == under or p.cwd.startswith(under + "/"))]


def processes_with(marker: str) -> list[int]:
    """Live processes whose cwd is under ``marker`` or whose command line mentions it."""
    return [p.pid for p in processes()
            if p.live and (p.cwd == marker or p.cwd.startswith(marker + "/")
                           or marker.encode() in p.cmdline)]


def kill_leftovers(marker: str, timeout: float = 15.0) -> int:
    """SIGKILL everything that mentions ``marker`` until nothing is left; the count killed."""
    killed: set[int] = set()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = processes_with(marker)
        if not found:
            break
        for pid in found:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
            killed.add(pid)
        # Reap any that are our own children.
        with contextlib.suppress(ChildProcessError):
            while os.waitpid(-1, os.WNOHANG)[0] > 0:
                pass
        time.sleep(0.05)
    return len(killed)


# -- the service ----------------------------------------------------------------------


class ServiceUnavailable(RuntimeError):
    """The server could not start (e.g. a module of the service is still missing)."""


def service_import_error() -> str | None:
    """None if the server's modules import; else the error text."""
    proc = subprocess.run([PYTHON, "-c", "import mrsjobs.api.app"], capture_output=True,
                          text=True, timeout=120)
    if proc.returncode == 0:
        return None
    lines = proc.stderr.strip().splitlines()
    return lines[-1] if lines else f"exit code {proc.returncode}"


def wait_service_importable(timeout: float, interval: float = 30.0) -> None:
    """Wait (bounded) for the service to import, e.g. while a module is being written."""
    deadline = time.monotonic() + timeout
    while True:
        error = service_import_error()
        if error is None:
            return
        if time.monotonic() + interval > deadline:
            raise ServiceUnavailable(f"the service does not import: {error}")
        log(f"the service does not import yet ({error}); checking again in {interval:.0f}s")
        time.sleep(interval)


@dataclass
class Server:
    """A ``mrsjobs serve`` subprocess with a token for its default project."""

    root: Path
    name: str
    overrides: Mapping[str, str]
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    project_id: str = ""
    cluster_id: str = ""
    token: str = ""
    env: dict[str, str] = field(default_factory=dict)

    @property
    def dir(self) -> Path:
        return self.root / self.name

    @property
    def data_dir(self) -> Path:
        return self.dir / "data"

    @property
    def runs_dir(self) -> Path:
        return self.data_dir / "runs"

    @property
    def log_path(self) -> Path:
        return self.dir / "server.log"

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def jobs_path(self) -> str:
        return f"/v2/{self.project_id}/clusters/{self.cluster_id}/job-executions"

    def run_dir(self, job_id: str) -> Path:
        return self.runs_dir / job_id

    def area(self, name: str) -> Path:
        """Where ``hdfs:///name`` of the default cluster is on this host."""
        return self.data_dir / "clusters" / self.cluster_id / "files" / name

    def cli(self, *args: str) -> str:
        out = subprocess.run(
            [PYTHON, "-m", "mrsjobs.cli", *args, "--data-dir", str(self.data_dir)],
            check=True, capture_output=True, text=True, env=self.env, cwd=self.dir,
            timeout=120)
        return out.stdout.strip()

    def start(self, timeout: float = 60.0) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("MRSJOBS_")}
        env.update(self.overrides)
        self.env = env
        info = json.loads(self.cli("info", "--json"))
        self.project_id, self.cluster_id = info["project_id"], info["cluster_id"]
        self.token = self.cli("token", "create", "--project", self.project_id,
                              "--user", "bench")
        self.port = free_port()
        with open(self.log_path, "ab") as out:
            # cwd under the bench directory: the zygote and the shims inherit it, so
            # the leftover sweep finds them too.
            self.proc = subprocess.Popen(
                [PYTHON, "-m", "mrsjobs.cli", "serve", "--data-dir", str(self.data_dir),
                 "--port", str(self.port), "--log-level", "warning"],
                env=env, cwd=self.dir, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                start_new_session=True)
        t0 = time.monotonic()
        with httpx.Client(base_url=self.endpoint, timeout=1) as probe:
            wait_for(lambda: self._ready(probe), timeout=timeout, interval=0.05,
                     message=f"server {self.name} to listen")
        log(f"server {self.name} up on port {self.port} in {time.monotonic() - t0:.2f}s "
            f"({', '.join(f'{k}={v}' for k, v in self.overrides.items()) or 'defaults'})")

    def _ready(self, probe: httpx.Client) -> bool:
        """Listening: any HTTP answer to GET / (404) counts."""
        assert self.proc is not None
        if self.proc.poll() is not None:
            text = self.log_path.read_text(errors="replace")
            raise ServiceUnavailable(
                f"server {self.name} exited with {self.proc.returncode}:\n{text[-3000:]}")
        try:
            probe.get("/")
        except httpx.TransportError:
            return False
        return True

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            log(f"server {self.name} ignored SIGTERM for 20s; SIGKILL")
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)

    def client(self) -> httpx.Client:
        """A keep-alive client with the token set."""
        return httpx.Client(base_url=self.endpoint, timeout=30,
                            headers={"X-Auth-Token": self.token})

    # -- API calls --------------------------------------------------------------------

    def submit(self, client: httpx.Client, arguments: Sequence[str], name: str = "bench",
               job_type: str = "SparkSubmit") -> str:
        resp = client.post(self.jobs_path, json={"job_type": job_type, "job_name": name,
                                                 "arguments": list(arguments)})
        if resp.status_code != 202:
            raise RuntimeError(f"submit: {resp.status_code} {resp.text}")
        job_id: str = resp.json()["job_submit_result"]["job_id"]
        return job_id

    def put(self, client: httpx.Client, path: str, data: bytes) -> str:
        """Upload to the default cluster's file area; the ``hdfs:///`` URI of the file."""
        resp = client.put(f"/v2/{self.project_id}/clusters/{self.cluster_id}/files",
                          params={"path": path}, content=data)
        if resp.status_code != 201:
            raise RuntimeError(f"put: {resp.status_code} {resp.text}")
        return f"hdfs://{path}"

    def show(self, client: httpx.Client, job_id: str) -> dict[str, Any]:
        resp = client.get(f"{self.jobs_path}/{job_id}")
        if resp.status_code != 202:
            raise RuntimeError(f"show: {resp.status_code} {resp.text}")
        detail: dict[str, Any] = resp.json()["job_detail"]
        return detail

    def kill(self, client: httpx.Client, job_id: str) -> None:
        resp = client.post(f"{self.jobs_path}/{job_id}/kill")
        if resp.status_code != 202:
            raise RuntimeError(f"kill: {resp.status_code} {resp.text}")

    def list(self, client: httpx.Client, **params: str | int) -> dict[str, Any]:
        resp = client.get(self.jobs_path, params={k: str(v) for k, v in params.items()})
        if resp.status_code != 202:
            raise RuntimeError(f"list: {resp.status_code} {resp.text}")
        body: dict[str, Any] = resp.json()
        return body

    def total(self, client: httpx.Client, **params: str | int) -> int:
        total: int = self.list(client, limit=1, **params)["total_record"]
        return total

    def wait_state(self, client: httpx.Client, job_id: str, states: Iterable[str],
                   timeout: float = 30.0, interval: float = 0.002) -> dict[str, Any]:
        wanted = frozenset(states)
        return wait_for(lambda: (d := self.show(client, job_id))["job_state"] in wanted and d,
                        timeout=timeout, interval=interval,
                        message=f"job {job_id} in {sorted(wanted)}")

    def pid_record(self, job_id: str) -> dict[str, Any] | None:
        try:
            rec: dict[str, Any] = json.loads((self.run_dir(job_id) / "pid.json").read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        return rec

    def db_jobs(self, job_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Job rows straight from the store (read-only): the timestamps the API does not
        show (kill_requested_ms, kill_signalled_ms). SQLite data directories only."""
        uri = f"file:{self.data_dir / 'mrsjobs.db'}?mode=ro"
        ids = list(job_ids)
        out: dict[str, dict[str, Any]] = {}
        with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=30)) as conn:
            conn.row_factory = sqlite3.Row
            for i in range(0, len(ids), 500):
                chunk = ids[i:i + 500]
                marks = ",".join("?" * len(chunk))
                for row in conn.execute(f"SELECT * FROM jobs WHERE id IN ({marks})", chunk):
                    out[row["id"]] = dict(row)
        return out

    def exit_record(self, job_id: str) -> dict[str, Any] | None:
        try:
            rec: dict[str, Any] = json.loads((self.run_dir(job_id) / "exit.json").read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        return rec


# -- the workspace --------------------------------------------------------------------


class _Terminated(BaseException):
    pass


def take_turns(sides: Mapping[str, Callable[[int], dict[str, Any]]], samples: int,
               warmup: int, label: str, every: int = 20) -> dict[str, list[dict[str, Any]]]:
    """Round ``i`` takes one sample of each side, each side taking each place in turn so
    that drift and noise hit all alike; the first ``warmup`` rounds are not kept."""
    names = list(sides)
    kept: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    for i in range(warmup + samples):
        k = i % len(names)
        for name in names[k:] + names[:k]:
            sample = sides[name](i)
            if i >= warmup:
                kept[name].append(sample)
        done = i + 1 - warmup
        if done == 0:
            log(f"{label}: warm-up done ({warmup} of each)")
        elif done > 0 and done % every == 0:
            p50 = {n: summary([x["latency"] for x in v]).get("p50") for n, v in kept.items()}
            log(f"{label} {done}/{samples}: p50 {p50} ms")
    return kept


def remove_tenants(server: Server) -> None:
    """Remove the OS users and network namespaces the server made for its projects."""
    if os.geteuid() != 0 or not server.project_id:
        return
    from mrsjobs.containment.tenants import Tenants

    tenants = Tenants()
    for project in json.loads(server.cli("project", "list", "--json")):
        tenants.remove(project["id"])


def _on_sigterm(signum: int, _frame: FrameType | None) -> None:
    raise _Terminated(f"signal {signum}")


class Bench:
    """A temporary directory with servers and baseline processes in it; cleans up all.

    Use as a context manager. ``track`` a baseline ``Popen`` to have its process
    group killed on exit; anything else is found by the leftover sweep.
    """

    def __init__(self, name: str, keep: bool = False) -> None:
        self.name = name
        self.keep = keep
        self.root = Path(tempfile.mkdtemp(prefix=f"mrsjobs-bench-{name}-"))
        self.servers: list[Server] = []
        self.popens: list[subprocess.Popen[bytes]] = []
        self._old_handlers: dict[int, Any] = {}

    def __enter__(self) -> Bench:
        for sig in (signal.SIGTERM, signal.SIGHUP):
            self._old_handlers[sig] = signal.signal(sig, _on_sigterm)
        log(f"bench directory {self.root}")
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
        for sig, handler in self._old_handlers.items():
            signal.signal(sig, handler)
        if exc_type is _Terminated:
            raise SystemExit(143)

    def server(self, name: str, **overrides: str) -> Server:
        """Start a server; ``overrides`` are MRSJOBS_* settings (``max_running="10"``)."""
        env = {f"MRSJOBS_{k.upper()}": v for k, v in overrides.items()}
        server = Server(self.root, name, env)
        self.servers.append(server)
        server.start()
        return server

    def track(self, proc: subprocess.Popen[bytes]) -> subprocess.Popen[bytes]:
        self.popens.append(proc)
        return proc

    def close(self) -> None:
        for server in self.servers:
            try:
                server.stop()
            except Exception as exc:
                log(f"stopping server {server.name}: {exc}")
        for proc in self.popens:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(5)
        killed = kill_leftovers(str(self.root))
        if killed:
            log(f"killed {killed} leftover process(es) under {self.root}")
        for server in self.servers:
            remove_tenants(server)
        if self.keep:
            log(f"kept {self.root}")
        else:
            shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def bench_workspace(name: str, args: argparse.Namespace) -> Iterator[Bench]:
    if args.wait_service > 0:
        wait_service_importable(args.wait_service)
    with Bench(name, keep=args.keep) as bench:
        yield bench


def parser(description: str, samples: int, warmup: int) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--samples", type=int, default=samples, help=f"default {samples}")
    p.add_argument("--warmup", type=int, default=warmup, help=f"default {warmup}")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory")
    p.add_argument("--wait-service", type=float, default=0.0, metavar="SECONDS",
                   help="if the service does not import yet, retry every 30s for this long")
    return p


REPO = Path(__file__).resolve().parent.parent


def run_context(started_load: tuple[float, float, float] | None = None) -> dict[str, Any]:
    """What the figures were measured on: CPUs, load, the service's source revision."""
    def git(*args: str) -> str:
        try:
            out = subprocess.run(["git", "-C", str(REPO), *args], capture_output=True,
                                 text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return ""
        return out.stdout.strip()

    dirty = [line[3:] for line in git("status", "--porcelain", "--", "src").splitlines()]
    return {
        "cpus": os.cpu_count(),
        "loadavg_1m_start": round(started_load[0], 2) if started_load else None,
        "loadavg_1m_end": round(os.getloadavg()[0], 2),
        "git_head": git("rev-parse", "--short", "HEAD") or None,
        "src_uncommitted_files": len(dirty),
    }


def trivial_env() -> dict[str, str]:
    """The environment for baseline processes: ours, without MRSJOBS_* settings."""
    return {k: v for k, v in os.environ.items() if not k.startswith("MRSJOBS_")}
