"""Logs: how long a line a job writes takes to reach a client that follows the log.

A real ``mrsjobs serve`` runs one job (its spark-submit is a script) that writes
numbered lines stamped with ``$EPOCHREALTIME``, one every 50-150 ms at random. Three
readers follow the same log at once, each noting when it sees every line:

- ``cli``: ``mrsjobs logs -f JOB_ID``, a subprocess reading the server's event stream;
- ``sse``: an HTTP client reading ``GET .../log?follow=true`` itself;
- ``file`` (the baseline): a plain reader polling the job's ``stdout.log`` on disk
  every millisecond, i.e. when the line is there to be read at all.

Latency = seen - stamped, per line, after the first ``--warmup`` lines. The goal is
a ``cli`` p50 of at most 100 ms.

    .venv/bin/python bench/logs.py [--samples 200] [--warmup 10]
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from _harness import (
    PYTHON,
    Bench,
    Server,
    bench_workspace,
    emit,
    log,
    parse_epochrealtime,
    parser,
    run_context,
    wait_for,
    write_script,
)
from _stats import ratio, summary

GOAL_P50_MS = 100.0

#: The stand-in for spark-submit: "lines=N" lines after a pause for the readers.
WRITER_SH = """#!/usr/bin/env bash
n=0
for arg in "$@"; do case "$arg" in lines=*) n="${arg#lines=}" ;; esac; done
echo "ready"
sleep 3
for ((i = 0; i < n; i++)); do
  echo "line $i $EPOCHREALTIME"
  sleep "0.$(( RANDOM % 100 + 50 ))"
done
"""


def stamps(text: str) -> tuple[int, int] | None:
    """(line number, written ns) of a ``line I STAMP`` line."""
    parts = text.split()
    if len(parts) == 3 and parts[0] == "line":
        return int(parts[1]), parse_epochrealtime(parts[2])
    return None


class Seen:
    """When a reader saw each line (ns since the epoch)."""

    def __init__(self) -> None:
        self.at: dict[int, int] = {}
        self.written: dict[int, int] = {}

    def note(self, text: str) -> None:
        now = time.time_ns()
        found = stamps(text)
        if found is not None and found[0] not in self.at:
            self.at[found[0]] = now
            self.written[found[0]] = found[1]

    def latencies(self, warmup: int) -> list[float]:
        return [(self.at[i] - self.written[i]) / 1e6 for i in sorted(self.at) if i >= warmup]


def read_cli(server: Server, job_id: str, seen: Seen, bench: Bench) -> None:
    env = dict(server.env) | {"MRSJOBS_ENDPOINT": server.endpoint, "MRSJOBS_TOKEN": server.token,
                              "MRSJOBS_PROJECT": server.project_id,
                              "MRSJOBS_CLUSTER": server.cluster_id,
                              "XDG_CONFIG_HOME": str(bench.root / "config")}
    proc = bench.track(subprocess.Popen([PYTHON, "-m", "mrsjobs.cli", "logs", "-f", job_id],
                                        stdout=subprocess.PIPE, env=env, cwd=bench.root,
                                        start_new_session=True))
    assert proc.stdout is not None
    for raw in iter(proc.stdout.readline, b""):
        seen.note(raw.decode())
    proc.wait(30)


def sse_lines(server: Server, job_id: str) -> Iterator[str]:
    url = f"{server.jobs_path}/{job_id}/log"
    with httpx.Client(base_url=server.endpoint, headers={"X-Auth-Token": server.token},
                      timeout=httpx.Timeout(30, read=None)) as client, \
            client.stream("GET", url, params={"follow": "true"}) as resp:
        for line in resp.iter_lines():
            if line.startswith("event: end"):
                return
            if line.startswith("data:"):
                yield line[5:].removeprefix(" ")


def read_sse(server: Server, job_id: str, seen: Seen) -> None:
    for line in sse_lines(server, job_id):
        seen.note(line)


def read_file(path: Path, seen: Seen, done: threading.Event) -> None:
    """Poll the file every millisecond; note each whole line when it first shows."""
    offset, rest = 0, b""
    while not done.is_set():
        try:
            with open(path, "rb") as f:
                f.seek(offset)
                data = f.read()
        except FileNotFoundError:
            data = b""
        if data:
            offset += len(data)
            *lines, rest = (rest + data).split(b"\n")
            for line in lines:
                seen.note(line.decode(errors="replace"))
        else:
            time.sleep(0.001)


def main() -> None:
    args = parser(__doc__ or "", samples=200, warmup=10).parse_args()
    load = os.getloadavg()
    with bench_workspace("logs", args) as bench:
        script = write_script(bench.root / "writer.sh", WRITER_SH)
        server = bench.server("logs", spark_submit=str(script), hive_metastore="false")
        with httpx.Client(base_url=server.endpoint,
                          headers={"X-Auth-Token": server.token}, timeout=30) as client:
            job_id = server.submit(client, ["hdfs:///app.py",
                                            f"lines={args.samples + args.warmup}"])
            server.wait_state(client, job_id, ["RUNNING"])
            readers = {name: Seen() for name in ("cli", "sse", "file")}
            done = threading.Event()
            threads = [
                threading.Thread(target=read_cli, args=(server, job_id, readers["cli"], bench)),
                threading.Thread(target=read_sse, args=(server, job_id, readers["sse"])),
                threading.Thread(target=read_file, args=(
                    server.run_dir(job_id) / "stdout.log", readers["file"], done)),
            ]
            for thread in threads:
                thread.start()
            log(f"job {job_id}: {args.samples + args.warmup} lines, 50-150 ms apart")
            server.wait_state(client, job_id, ["FINISHED", "FAILED", "KILLED"],
                              timeout=60 + 0.2 * (args.samples + args.warmup), interval=0.5)
            wait_for(lambda: not threads[0].is_alive() and not threads[1].is_alive(),
                     timeout=30, message="the followers to end with the job")
            done.set()
            threads[2].join(5)
    figures = {name: summary(seen.latencies(args.warmup)) for name, seen in readers.items()}
    p50 = figures["cli"].get("p50")
    emit({
        "bench": "logs",
        "lines": args.samples,
        "latency_ms": figures,
        "cli_p50_ms": p50,
        "cli_p50_over_file_p50": ratio(p50, figures["file"].get("p50")),
        "goal_cli_p50_ms": GOAL_P50_MS,
        "goal_met": p50 is not None and p50 <= GOAL_P50_MS,
        "every_line_seen": {name: len(seen.latencies(0)) == args.samples + args.warmup
                            for name, seen in readers.items()},
        **run_context(load),
    })


if __name__ == "__main__":
    main()
