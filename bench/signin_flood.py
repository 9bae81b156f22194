"""Sign-in flood: 40 clients sending wrong passwords to a real server for 10 s.

Each client is a thread with its own keep-alive ``httpx`` client that posts
``POST /v3/auth/tokens`` with a wrong password for user ``victim`` as fast as the
server answers; each gives itself its own source address (``X-Forwarded-For``, which
uvicorn trusts from loopback), as a distributed guesser would. Meanwhile a prober
sends a right-token ``GET`` of the job list every 100 ms. Reported per server: the
server process's peak RSS (``VmHWM`` of ``/proc/<pid>/status``), the prober's latency,
and the flood's answers by status.

Three servers in the same run, one after another: ``unbounded`` (scrypt unbounded and
no sign-in throttle: the service before the abuse limits; the baseline), ``hashing``
(scrypt at most ``hash_concurrency`` at once, no throttle) and ``defaults`` (both).

    .venv/bin/python bench/signin_flood.py [--clients 40] [--seconds 10]
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from typing import Any

import httpx

from _harness import Bench, Server, bench_workspace, emit, log, parser, run_context
from _stats import summary

PASSWORD = "the right one"
CONFIGS: dict[str, dict[str, str]] = {
    "unbounded": {"hash_concurrency": "0", "signin_failures": "0"},
    "hashing": {"signin_failures": "0"},
    "defaults": {},
}


def status_kib(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def login_body(password: str) -> dict[str, Any]:
    return {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "victim", "domain": {"name": "Default"}, "password": password}}}}}


def flood(server: Server, clients: int, seconds: float) -> dict[str, Any]:
    assert server.proc is not None
    pid = server.proc.pid
    rss_before = status_kib(pid, "VmRSS")
    stop = threading.Event()
    answers: Counter[str] = Counter()
    lock = threading.Lock()
    latencies: list[float] = []
    probe_failures: Counter[str] = Counter()

    def attacker(i: int) -> None:
        headers = {"X-Forwarded-For": f"10.0.{i // 250}.{i % 250 + 1}"}
        with httpx.Client(base_url=server.endpoint, timeout=60, headers=headers) as c:
            while not stop.is_set():
                try:
                    status = str(c.post("/v3/auth/tokens", json=login_body("wrong")).status_code)
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                with lock:
                    answers[status] += 1

    def prober() -> None:
        with server.client() as c:
            while not stop.is_set():
                t0 = time.monotonic()
                try:
                    resp = c.get(server.jobs_path, params={"limit": "1"})
                    if resp.status_code != 202:
                        probe_failures[str(resp.status_code)] += 1
                except httpx.HTTPError as exc:
                    probe_failures[type(exc).__name__] += 1
                latencies.append((time.monotonic() - t0) * 1000)
                stop.wait(0.1)

    threads = [threading.Thread(target=attacker, args=(i,)) for i in range(clients)]
    threads.append(threading.Thread(target=prober))
    peak_threads = 0
    for t in threads:
        t.start()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        peak_threads = max(peak_threads, status_kib(pid, "Threads"))
        time.sleep(0.2)
    stop.set()
    for t in threads:
        t.join(120)
    return {
        "rss_before_mib": round(rss_before / 1024, 1),
        "peak_rss_mib": round(status_kib(pid, "VmHWM") / 1024, 1),
        "rss_after_mib": round(status_kib(pid, "VmRSS") / 1024, 1),
        "peak_threads": peak_threads,
        "flood_answers": dict(answers),
        "flood_rate_per_s": round(sum(answers.values()) / seconds, 1),
        "probe_ms": summary(latencies),
        "probe_failures": dict(probe_failures),
    }


def main() -> None:
    p = parser(__doc__ or "", samples=0, warmup=0)
    p.add_argument("--clients", type=int, default=40)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--only", choices=sorted(CONFIGS), action="append")
    args = p.parse_args()
    load = os.getloadavg()
    results: dict[str, Any] = {}
    with bench_workspace("signin-flood", args) as bench:
        for name in args.only or list(CONFIGS):
            server = start(bench, name, CONFIGS[name])
            log(f"{name}: {args.clients} clients for {args.seconds:.0f}s")
            results[name] = flood(server, args.clients, args.seconds)
            log(f"{name}: {results[name]}")
            server.stop()
    emit({"bench": "signin_flood", "clients": args.clients, "seconds": args.seconds,
          **results, "context": run_context(load)})


def start(bench: Bench, name: str, overrides: dict[str, str]) -> Server:
    server = bench.server(name, isolation="off", hive_metastore="false", **overrides)
    server.cli("user", "create", "--project", server.project_id, "--name", "victim",
               "--role", "member", "--password", PASSWORD)
    with httpx.Client(base_url=server.endpoint, timeout=30) as c:  # warm up the route
        resp = c.post("/v3/auth/tokens", json=login_body(PASSWORD))
        assert resp.status_code == 201, resp.text
    return server


if __name__ == "__main__":
    main()
