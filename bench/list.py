"""List: filtered, paged v2 list calls over HTTP against 1,000,000 job records, on
SQLite and on PostgreSQL.

The records are bulk-loaded straight into the database (``_load.py``: executemany /
COPY, counts kept by the same triggers as any insert), submitted evenly from five
days to one day ago (none old enough for the retention purge): 80% FINISHED, 8%
FAILED, 5% KILLED, 5% ACCEPTED, 2% RUNNING, 1,000 distinct job names. A real
``mrsjobs serve`` then answers (``max_running=0``: the loaded queued jobs stay queued).
Query kinds, each with a random ``limit`` (10/50/100) and ``offset`` (page 1-20):
``state`` (job_state=FINISHED/FAILED/RUNNING/ACCEPTED), ``name`` (job_name=,
~1,000 matches), ``time`` (a one-hour submitted_time_begin/end window, ~10,400
matches) and ``all`` (no filter). One keep-alive client, calls one after another.

Baseline, interleaved call by call: the same query straight against the store
(``Store.list_jobs``, no HTTP). Checked: ``total_record`` equals a ``count(*)`` and
does not change with the page.

    .venv/bin/python bench/list.py [--samples 300] [--rows 1000000]
"""

from __future__ import annotations

import random
import time
from typing import Any

from sqlalchemy import func, select

from _harness import Bench, Server, log, parser
from _load import DAY_MS, Layout, database_url, emit_per_backend, load
from _stats import r2, ratio, summary
from mrsjobs.api.v2 import list_query
from mrsjobs.bootstrap import ensure_defaults, open_store
from mrsjobs.settings import Settings
from mrsjobs.store import Store
from mrsjobs.store.tables import jobs

TARGET_P99_MS = 20.0
KINDS = ("state", "name", "time", "all")
HOUR_MS = 3600 * 1000


def params_for(kind: str, rng: random.Random, layout: Layout) -> dict[str, str]:
    params = {"limit": str(rng.choice((10, 50, 100))), "offset": str(rng.randint(1, 20))}
    if kind == "state":
        params["job_state"] = rng.choice(("FINISHED", "FAILED", "RUNNING", "ACCEPTED"))
    elif kind == "name":
        params["job_name"] = f"job-{rng.randrange(1000):03d}"
    elif kind == "time":
        begin = layout.first_ms + rng.randrange(layout.span_ms - HOUR_MS)
        params["submitted_time_begin"] = str(begin)
        params["submitted_time_end"] = str(begin + HOUR_MS)
    return params


def exact_count(store: Store, project_id: str, cluster_id: str,
                params: dict[str, str]) -> int:
    q = list_query(project_id, cluster_id, params)
    stmt = select(func.count()).select_from(jobs).where(
        jobs.c.project_id == project_id, jobs.c.cluster_id == cluster_id)
    if q.job_states:
        stmt = stmt.where(jobs.c.state.in_(sorted(q.job_states)))
    if q.job_name:
        stmt = stmt.where(jobs.c.name == q.job_name)
    if q.submitted_from_ms is not None:
        stmt = stmt.where(jobs.c.submitted_ms >= q.submitted_from_ms)
    if q.submitted_to_ms is not None:
        stmt = stmt.where(jobs.c.submitted_ms <= q.submitted_to_ms)
    with store.engine.connect() as conn:
        return int(conn.execute(stmt).scalar_one())


def measure(bench: Bench, backend: str, args: Any) -> dict[str, Any]:
    server = Server(bench.root, backend, {"MRSJOBS_MAX_RUNNING": "0"})
    bench.servers.append(server)
    with database_url(backend, server.data_dir) as url:
        if backend != "sqlite":
            server.overrides = {**server.overrides, "MRSJOBS_DATABASE_URL": url}
        settings = Settings(data_dir=server.data_dir, database_url=url)
        store = open_store(settings)
        defaults = ensure_defaults(store)
        layout = Layout(args.rows, int(time.time() * 1000) - 5 * DAY_MS, 4 * DAY_MS)
        t0 = time.monotonic()
        load(url, defaults.project_id, defaults.cluster_id, layout)
        load_s = time.monotonic() - t0
        log(f"{backend}: loaded {args.rows} jobs in {load_s:.1f}s")
        server.start()
        rng = random.Random(42)
        http: dict[str, list[float]] = {k: [] for k in KINDS}
        direct: dict[str, list[float]] = {k: [] for k in KINDS}
        mismatches = 0
        checked = 0
        try:
            with server.client() as client:
                for kind in KINDS:
                    for i in range(args.warmup + args.samples):
                        params = params_for(kind, rng, layout)
                        t = time.perf_counter_ns()
                        body = server.list(client, **params)
                        t_http = time.perf_counter_ns() - t
                        q = list_query(defaults.project_id, defaults.cluster_id, params)
                        t = time.perf_counter_ns()
                        total, page = store.list_jobs(q)
                        t_direct = time.perf_counter_ns() - t
                        if i >= args.warmup:
                            http[kind].append(t_http / 1e6)
                            direct[kind].append(t_direct / 1e6)
                        if len(body["job_list"]) != len(page) or body["total_record"] != total:
                            mismatches += 1
                        if i < 5:  # exact, and the same on another page
                            other = server.list(client, **{**params, "offset": "2"})
                            exact = exact_count(store, defaults.project_id,
                                                defaults.cluster_id, params)
                            checked += 1
                            mismatches += (body["total_record"] != exact
                                           or other["total_record"] != exact)
                    log(f"{backend} {kind}: http p50 {summary(http[kind])['p50']} ms, "
                        f"p99 {summary(http[kind])['p99']} ms; store p50 "
                        f"{summary(direct[kind])['p50']} ms")
        finally:
            server.stop()
            store.close()
    kinds = {}
    for kind in KINDS:
        h, d = summary(http[kind]), summary(direct[kind])
        kinds[kind] = {"http": h, "store": d, "ratio_p50": ratio(h["p50"], d["p50"]),
                       "ratio_p99": ratio(h["p99"], d["p99"]),
                       "meets_target": h["p99"] <= TARGET_P99_MS}
    return {"rows": args.rows, "load_s": r2(load_s), "kinds": kinds,
            "totals_checked": checked, "total_mismatches": mismatches,
            "meets_target": all(k["meets_target"] for k in kinds.values())}


def main() -> None:
    p = parser(__doc__.splitlines()[0], samples=300, warmup=20)
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--backends", default="sqlite,postgresql")
    args = p.parse_args()
    emit_per_backend(
        "list", args, measure,
        metric="v2 list call over HTTP, filtered and paged (ms); baseline Store.list_jobs",
        samples_per_kind=args.samples,
        warmup=args.warmup,
        target={"p99_ms": TARGET_P99_MS},
    )


if __name__ == "__main__":
    main()
