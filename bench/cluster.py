"""Jobs on a Spark standalone cluster: a master and two workers, each in its own
network namespace (the tests' cluster, ``tests.support.spark_cluster``), reached over
a bridge only. Needs root and iproute2.

Part 1, latency, taking turns sample by sample with raw REST calls to the master:
- submit: t0 just before the call, until the driver reads RUNNING at the master. The
  service's side submits a ``SparkSubmit`` job through the v2 API and, once the job
  shows its ``launcher_id``, asks the master for that driver; the raw side creates the
  same driver with ``POST /v1/submissions/create`` and asks for its status. Two
  figures: ``at_master``, until the start time the master records for the driver (it
  creates and places a driver in one step, so that is when it reads RUNNING; both sides
  wait for an idle cluster first), and ``observed``, until the caller's polling sees it
  RUNNING, which adds each side's own polling delay. The service is asked for the
  ``launcher_id`` every 50 ms only: asked every 2 ms, its API took the CPU its dispatch
  needed (``at_master`` does not depend on that poll).
- kill: the driver's executor has registered with it (both sides read the driver's
  log page on its worker, so that both kill a driver at the same point of its life: one
  killed while its executor still starts shuts down sooner, by about 100 ms here; the
  service's side also waits for the job's ``app_id``), then t0 just before the call,
  until the job reads KILLED (the service writes it once the master has the driver
  KILLED and its application ended) or, raw, until ``status`` reads KILLED. The
  service's end is the ``finished_time`` it records (its commit follows at once): the
  job is asked for only every 250 ms, as each ask costs the service CPU that the
  driver's shutdown on this 2-core host would otherwise have. Beside it, a poller asks
  the master for the driver's status every 2 ms, as the raw side does.
  Most of either is the driver's own shutdown, which varies by hundreds of ms from
  one driver to the next, so the service's sample is also split in the same run:
  ``own_ms`` is its share, from the call to the kill attempt stored just before the
  REST kill goes out (``kill_signalled_ms``), plus from the master's status reading
  KILLED (a poller beside it) to the job reading KILLED.
The master is asked about every 2 ms on both sides.

Part 2, throughput: ``--jobs`` trivial JVM drivers (``Hello``: prints a line, no
SparkContext) submitted at once through the v2 API, until all have ended; beside
``spark-submit --deploy-mode cluster`` waiting for each driver to end, run in a loop
``--baseline-jobs`` times (it takes a JVM of its own per job).

    .venv/bin/python bench/cluster.py [--samples 10] [--warmup 1] [--jobs 200]
                                      [--baseline-jobs 20]
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from _harness import Bench, Server, emit, log, parser, run_context, take_turns, wait_for
from _harness import bench_workspace as workspace
from _stats import medians, ratio, summary

# isort: split
# After _harness, which makes the repository's tests package importable.
from tests.fixtures.sparkapp.build import HELLO, SLEEP, build_sparkapp_jar
from tests.support.spark_cluster import SparkCluster

from mrsjobs.engines.spark_standalone.rest import DriverState, SparkRest, jvm_app

TARGET_SUBMIT_OVER_MS = 15.0
TARGET_KILL_OVER_MS = 50.0
PROPS = {"spark.driver.memory": "512m", "spark.executor.memory": "512m",
         "spark.driver.cores": "1", "spark.cores.max": "1"}
APP_TIMEOUT_S = 180.0
POLL_S = 0.002
#: How often the service is asked for a job's driver (see the docstring).
SERVICE_POLL_S = 0.05
#: The kill is read from the end the service records, so this poll only has to see
#: it; slow, so that it does not load the hosts the killed driver shuts down on.
END_POLL_S = 0.25
_APP_ID = re.compile(r"app ID (app-[0-9]+-[0-9]+)")
_EXECUTOR_REGISTERED = "Registered executor"


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


class Sides:
    def __init__(self, server: Server, cluster: SparkCluster, rest: SparkRest, jar: Path,
                 client: httpx.Client) -> None:
        self.server, self.cluster, self.rest, self.jar = server, cluster, rest, jar
        self.client = client
        self.http = httpx.Client(timeout=10, trust_env=False)

    def idle(self) -> None:
        """Wait until no driver or executor holds a worker: a side's sample must not
        wait on what the other side's sample left ending."""
        with self.cluster.ui() as ui:
            wait_for(lambda: all(w.cores_used == 0 and w.memory_used_mb == 0
                                 for w in ui.state().alive_workers),
                     timeout=APP_TIMEOUT_S, interval=0.05, message="an idle cluster")

    def _running(self, driver_id: str) -> None:
        wait_for(lambda: self.rest.status(driver_id).state is DriverState.RUNNING,
                 timeout=APP_TIMEOUT_S, interval=POLL_S, message=f"{driver_id} RUNNING")

    def _executing(self, driver_id: str) -> str:
        """Wait until the driver's executor has registered with it (its log says so),
        and return its application's id: both sides then kill a driver at the same
        point of its life, with an executor to stop (one killed while its executor
        still starts shuts down sooner)."""
        worker_id = self.rest.status(driver_id).worker_id
        with self.cluster.ui() as ui:
            worker = next(w for w in ui.state().workers if w.id == worker_id)
        log_page = {"driverId": driver_id, "logType": "stderr", "offset": 0,
                    "byteLength": 1 << 20}

        def registered() -> str | None:
            text = self.http.get(f"{worker.web_url}/log/", params=log_page).text
            found = _APP_ID.search(text)
            return found.group(1) if found and _EXECUTOR_REGISTERED in text else None

        return wait_for(registered, timeout=APP_TIMEOUT_S, interval=0.05,
                        message=f"{driver_id}'s executor registered")

    def _started_after(self, driver_id: str, t0_wall: float) -> float:
        """Milliseconds from ``t0_wall`` (``time.time()``) to the driver's start as the
        master records it (its clock is this host's: the namespaces share it)."""
        with self.cluster.ui() as ui:
            driver = ui.state().driver(driver_id)
        if driver is None or not driver.start_ms:
            raise RuntimeError(f"the master does not know {driver_id}")
        return round(driver.start_ms - t0_wall * 1000, 2)

    def service(self, i: int) -> dict[str, Any]:
        s, c = self.server, self.client
        args = [*(a for k, v in PROPS.items() for a in ("--conf", f"{k}={v}")),
                "--class", SLEEP, "hdfs:///apps/sparkapp.jar", "600", "0"]
        self.idle()
        t0_wall, t0 = time.time(), time.monotonic()
        job_id = s.submit(c, args, name=f"svc-{i}")
        detail = wait_for(lambda: (d := s.show(c, job_id))["launcher_id"] and d,
                          timeout=APP_TIMEOUT_S, interval=SERVICE_POLL_S,
                          message="launcher_id")
        self._running(detail["launcher_id"])
        submit = time.monotonic() - t0
        at_master = self._started_after(detail["launcher_id"], t0_wall)
        app_id = self._executing(detail["launcher_id"])
        # The service knows the application too (it confirms a kill by it).
        wait_for(lambda: s.show(c, job_id)["app_id"] == app_id, timeout=APP_TIMEOUT_S,
                 interval=0.05, message=f"{job_id} app id")
        driver_killed: list[float] = []
        poller = threading.Thread(target=self._note_killed,
                                  args=(detail["launcher_id"], driver_killed))
        t1_wall = time.time()
        poller.start()
        s.kill(c, job_id)
        done = s.wait_state(c, job_id, ["KILLED", "FINISHED", "FAILED"],
                            timeout=APP_TIMEOUT_S, interval=END_POLL_S)
        poller.join(APP_TIMEOUT_S)
        ended_wall = done["finished_time"] / 1000
        kill = ended_wall - t1_wall
        row = s.db_jobs([job_id])[job_id]
        signalled = row["kill_signalled_ms"]
        accepted = row["submitted_ms"] - t0_wall * 1000
        own = (signalled - t1_wall * 1000) + (ended_wall - driver_killed[0]) * 1000
        if done["job_state"] != "KILLED":
            raise RuntimeError(f"{job_id} ended {done['job_state']}")
        if self.rest.status(detail["launcher_id"]).state is not DriverState.KILLED:
            raise RuntimeError(f"{job_id} KILLED but its driver is not")
        return {"latency": _ms(submit), "at_master": at_master, "kill": _ms(kill),
                "own": round(own, 2), "accepted": round(accepted, 2)}

    def _note_killed(self, driver_id: str, at: list[float]) -> None:
        """Append the wall time at which the master first reads the driver KILLED."""
        with self.cluster.rest() as rest:
            wait_for(lambda: rest.status(driver_id).state is DriverState.KILLED,
                     timeout=APP_TIMEOUT_S, interval=POLL_S, message=f"{driver_id} KILLED")
        at.append(time.time())

    def raw(self, i: int) -> dict[str, Any]:
        request = jvm_app(master=self.cluster.master_url, app_name=f"raw-{i}", jar=self.jar,
                          main_class=SLEEP, args=["600", "0"], properties=PROPS)
        self.idle()
        t0_wall, t0 = time.time(), time.monotonic()
        driver_id = self.rest.create(request).driver_id
        self._running(driver_id)
        submit = time.monotonic() - t0
        at_master = self._started_after(driver_id, t0_wall)
        self._executing(driver_id)
        t1 = time.monotonic()
        self.rest.kill(driver_id)
        wait_for(lambda: self.rest.status(driver_id).state is DriverState.KILLED,
                 timeout=APP_TIMEOUT_S, interval=POLL_S, message=f"{driver_id} KILLED")
        return {"latency": _ms(submit), "at_master": at_master,
                "kill": _ms(time.monotonic() - t1)}


def throughput(server: Server, client: httpx.Client, jobs: int) -> dict[str, Any]:
    t0 = time.monotonic()
    ids = [server.submit(client, ["--conf", "spark.driver.memory=512m", "--class", HELLO,
                                  "hdfs:///apps/sparkapp.jar", str(i)], name=f"hello-{i}")
           for i in range(jobs)]
    submitted = time.monotonic() - t0

    def left() -> int:
        return jobs - server.total(client, job_state="FINISHED")

    wait_for(lambda: left() == 0, timeout=60 + 30 * jobs, interval=0.5,
             message=f"{jobs} jobs to finish")
    elapsed = time.monotonic() - t0
    failed = server.total(client, job_result="FAILED")
    return {"jobs": jobs, "failed": failed, "seconds": round(elapsed, 2),
            "submit_seconds": round(submitted, 2), "jobs_per_s": round(jobs / elapsed, 3),
            "ids": len(ids)}


def spark_submit_loop(bench: Bench, cluster: SparkCluster, jar: Path, jobs: int,
                      spark_home: Path) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MRSJOBS_", "SPARK_", "PYSPARK_"))}
    conf = bench.root / "spark-conf"
    conf.mkdir(exist_ok=True)
    # The client binds to the bridge's address on this host, as the service's calls go.
    env.update({"SPARK_HOME": str(spark_home), "SPARK_CONF_DIR": str(conf),
                "SPARK_LOCAL_IP": cluster.network.gateway})
    failed = 0
    t0 = time.monotonic()
    for i in range(jobs):
        proc = bench.track(subprocess.Popen(
            [str(spark_home / "bin" / "spark-submit"), "--master", cluster.master_url,
             "--deploy-mode", "cluster", "--conf", "spark.driver.memory=512m",
             "--conf", "spark.standalone.submit.waitAppCompletion=true",
             "--class", HELLO, str(jar), str(i)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env=env, cwd=bench.root, start_new_session=True))
        failed += proc.wait(APP_TIMEOUT_S) != 0
    elapsed = time.monotonic() - t0
    return {"jobs": jobs, "failed": failed, "seconds": round(elapsed, 2),
            "jobs_per_s": round(jobs / elapsed, 3)}


def main() -> int:
    p = parser(__doc__ or "", samples=10, warmup=1)
    p.add_argument("--jobs", type=int, default=200,
                   help="throughput jobs (default 200; 0: latency only)")
    p.add_argument("--baseline-jobs", type=int, default=20,
                   help="spark-submit loop length (default 20)")
    args = p.parse_args()
    if os.geteuid() != 0 or shutil.which("ip") is None:
        print("bench/cluster.py needs root and iproute2 (ip netns)", file=sys.stderr)
        return 2
    load = os.getloadavg()
    import pyspark

    spark_home = Path(pyspark.__file__).parent
    with workspace("cluster", args) as bench:
        jar = build_sparkapp_jar(bench.root / "jar", spark_home)
        cluster = SparkCluster(bench.root / "spark", spark_home)
        cluster.start()
        try:
            server = bench.server("cluster", max_running="20")
            shared = bench.root / "shared"
            (shared / "apps").mkdir(parents=True)
            shutil.copy(jar, shared / "apps" / "sparkapp.jar")
            made = json.loads(server.cli(
                "cluster", "create", "--project", server.project_id, "--name", "spark",
                "--engine", "spark-standalone", "--master", cluster.master_url,
                "--rest-url", cluster.rest_url, "--files-root", str(shared), "--json"))
            server.cluster_id = made["id"]
            with server.client() as client, cluster.rest() as rest:
                sides = Sides(server, cluster, rest, shared / "apps" / "sparkapp.jar",
                              client)
                kept = take_turns({"service": sides.service, "raw_rest": sides.raw},
                                  args.samples, args.warmup, "submit+kill", every=5)
                service_tp: dict[str, Any] | None = None
                if args.jobs > 0:
                    log(f"throughput: {args.jobs} jobs through the service")
                    service_tp = throughput(server, client, args.jobs)
            loop_tp: dict[str, Any] | None = None
            if args.jobs > 0:
                log(f"throughput: spark-submit x {args.baseline_jobs}")
                loop_tp = spark_submit_loop(bench, cluster, jar, args.baseline_jobs,
                                            spark_home)
        finally:
            cluster.stop()
    submit = {n: summary([s["at_master"] for s in v]) for n, v in kept.items()}
    observed = {n: summary([s["latency"] for s in v]) for n, v in kept.items()}
    kill = {n: summary([s["kill"] for s in v]) for n, v in kept.items()}
    pairs = [{"submit": s["at_master"] - r["at_master"],
              "submit_observed": s["latency"] - r["latency"], "kill": s["kill"] - r["kill"]}
             for s, r in zip(kept["service"], kept["raw_rest"], strict=True)]
    over = medians(pairs)
    emit({
        "bench": "cluster",
        "submit_to_running_ms": {"at_master": submit, "observed": observed},
        "kill_to_killed_ms": kill,
        "service_over_raw_p50_ms": over,
        "targets_ms": {"submit_over": TARGET_SUBMIT_OVER_MS, "kill_over": TARGET_KILL_OVER_MS},
        "kill_ratio_p50": ratio(kill["service"].get("p50"), kill["raw_rest"].get("p50")),
        "service_kill_own_ms": summary([s["own"] for s in kept["service"]]),
        # Where the service's submit goes: its API accepting the job (the submitted
        # time it records, whole ms), then dispatch and the REST create to the master.
        "service_submit_parts_ms": {
            "accepted": summary([s["accepted"] for s in kept["service"]]),
            "dispatched_to_master": summary([s["at_master"] - s["accepted"]
                                             for s in kept["service"]])},
        "throughput": service_tp and loop_tp and {
            "service": service_tp, "spark_submit_loop": loop_tp,
            "ratio": ratio(service_tp["jobs_per_s"], loop_tp["jobs_per_s"])},
        "context": run_context(load),
    })
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
