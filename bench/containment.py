"""What containment costs a real job: "submit call -> FINISHED" of a real PySpark job.

Two services side by side, each with the real spark-submit: one that contains its jobs
(the default as root: the project's own user, network namespace and sandbox) and one
with ``MRSJOBS_ISOLATION=off``. Per pair, the same PySpark application (Spark's own
``pi.py`` from the examples that pyspark ships, a read root of every service) runs once
on each, one after the other, the order swapped every pair; the figure is the time from
the submit call to the job reading FINISHED/SUCCEEDED, and the pair's ratio
contained / uncontained. The machine is noisy: read the medians.

    .venv/bin/python bench/containment.py [--samples 6] [--warmup 1]
"""

from __future__ import annotations

import importlib.util
import os
import time
from pathlib import Path
from typing import Any

from _harness import TERMINAL_STATES, Server, emit, log, parser, run_context
from _harness import bench_workspace as workspace
from _stats import r2, summary


def pi_app() -> Path:
    spec = importlib.util.find_spec("pyspark")
    if spec is None or spec.origin is None:
        raise RuntimeError("pyspark is not installed in this interpreter")
    return Path(spec.origin).parent / "examples" / "src" / "main" / "python" / "pi.py"


def run_once(server: Server, app: Path) -> float:
    """Seconds from the submit call to FINISHED; fails unless the job succeeded."""
    with server.client() as client:
        t0 = time.perf_counter()
        job_id = server.submit(client, [str(app), "4"], name="pi", job_type="SparkPython")
        detail = server.wait_state(client, job_id, TERMINAL_STATES, timeout=300,
                                   interval=0.02)
        elapsed = time.perf_counter() - t0
    if (detail["job_state"], detail["job_result"]) != ("FINISHED", "SUCCEEDED"):
        err = (server.run_dir(job_id) / "stderr.log").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"pi on {server.name} ended {detail['job_state']}: {err}")
    return elapsed


def main() -> None:
    args = parser(__doc__.splitlines()[0], samples=6, warmup=1).parse_args()
    load0 = os.getloadavg()
    app = pi_app()
    with workspace("containment", args) as bench:
        servers = {"contained": bench.server("contained"),
                   "off": bench.server("off", isolation="off")}
        pairs: list[dict[str, Any]] = []
        for i in range(args.warmup + args.samples):
            order = ("contained", "off") if i % 2 == 0 else ("off", "contained")
            pair = {side: run_once(servers[side], app) for side in order}
            if i >= args.warmup:
                pairs.append(pair)
            log(f"pair {i + 1}: contained {pair['contained']:.2f}s, off {pair['off']:.2f}s"
                + (" (warm-up)" if i < args.warmup else ""))
    contained = summary([p["contained"] * 1000 for p in pairs])
    off = summary([p["off"] * 1000 for p in pairs])
    ratios = sorted(p["contained"] / p["off"] for p in pairs)
    median_ratio = ratios[len(ratios) // 2] if len(ratios) % 2 else (
        (ratios[len(ratios) // 2 - 1] + ratios[len(ratios) // 2]) / 2)
    emit({
        "bench": "containment",
        "context": run_context(load0),
        "metric": "real PySpark job (pi.py 4): submit call -> FINISHED (ms)",
        "pairs": len(pairs),
        "contained": contained,
        "uncontained": off,
        "pair_ratios": [r2(r) for r in ratios],
        "median_pair_ratio": r2(median_ratio),
        "target": "contained within 5 % of uncontained (median pair ratio <= 1.05)",
        "meets_target": median_ratio <= 1.05,
    })


if __name__ == "__main__":
    main()
