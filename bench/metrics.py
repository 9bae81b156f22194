"""Metrics: the time of a ``/metrics`` scrape over HTTP with 1,000,000 job records in
the store, on SQLite and on PostgreSQL.

The records are bulk-loaded as for ``list.py`` (``_load.py``). A real ``mrsjobs serve``
then answers (``max_running=0``: the loaded queued jobs stay queued) with
``metrics_ttl_s=0``, so that every scrape reads the store's job counts: the worst case
(the default caches them for 2 s). Checked: the scrape's ``mrsjobs_jobs`` add up to
the number of records, and its queue depth is the number of ACCEPTED ones.

Baseline, interleaved call by call on the same keep-alive client: a v2 list call (the
first page of 10, no filter), the API's cheapest call that reads the same store.

    .venv/bin/python bench/metrics.py [--samples 300] [--rows 1000000]
"""

from __future__ import annotations

import time
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from _harness import Bench, Server, log, parser, take_turns
from _load import DAY_MS, Layout, database_url, emit_per_backend, load
from _stats import r2, ratio, summary
from mrsjobs.bootstrap import ensure_defaults, open_store
from mrsjobs.settings import Settings

TARGET_P99_MS = 50.0


def totals(text: str) -> tuple[float, float]:
    """The jobs of every state, and the queue depth, in a scrape."""
    jobs = queued = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "mrsjobs_jobs":
                jobs += sample.value
            elif sample.name == "mrsjobs_queue_depth":
                queued += sample.value
    return jobs, queued


def measure(bench: Bench, backend: str, args: Any) -> dict[str, Any]:
    server = Server(bench.root, backend, {"MRSJOBS_MAX_RUNNING": "0",
                                          "MRSJOBS_METRICS_TTL_S": "0"})
    bench.servers.append(server)
    with database_url(backend, server.data_dir) as url:
        if backend != "sqlite":
            server.overrides = {**server.overrides, "MRSJOBS_DATABASE_URL": url}
        store = open_store(Settings(data_dir=server.data_dir, database_url=url))
        defaults = ensure_defaults(store)
        store.close()
        layout = Layout(args.rows, int(time.time() * 1000) - 5 * DAY_MS, 4 * DAY_MS)
        t0 = time.monotonic()
        load(url, defaults.project_id, defaults.cluster_id, layout)
        load_s = time.monotonic() - t0
        log(f"{backend}: loaded {args.rows} jobs in {load_s:.1f}s")
        server.start()
        try:
            with server.client() as client, httpx.Client(base_url=server.endpoint,
                                                         timeout=30) as plain:
                last: dict[str, Any] = {}

                def scrape(_: int) -> dict[str, Any]:
                    t = time.perf_counter_ns()
                    resp = plain.get("/metrics")
                    latency = (time.perf_counter_ns() - t) / 1e6
                    resp.raise_for_status()
                    last["text"] = resp.text
                    return {"latency": latency}

                def list_call(_: int) -> dict[str, Any]:
                    t = time.perf_counter_ns()
                    server.list(client, limit=10, offset=1)
                    return {"latency": (time.perf_counter_ns() - t) / 1e6}

                timed = take_turns({"scrape": scrape, "list": list_call},
                                   args.samples, args.warmup, backend)
        finally:
            server.stop()
    jobs, queued = totals(last["text"])
    # The loader's ACCEPTED share (see _load.STATES): the only queued state it makes.
    expected_queued = sum(1 for i in range(args.rows) if 93 <= (i * 7919) % 100 < 98)
    scrape_ms = summary([x["latency"] for x in timed["scrape"]])
    list_ms = summary([x["latency"] for x in timed["list"]])
    log(f"{backend}: scrape p50 {scrape_ms['p50']} ms p99 {scrape_ms['p99']} ms; "
        f"list p50 {list_ms['p50']} ms")
    return {"rows": args.rows, "load_s": r2(load_s), "scrape": scrape_ms, "list": list_ms,
            "ratio_p50": ratio(scrape_ms["p50"], list_ms["p50"]),
            "ratio_p99": ratio(scrape_ms["p99"], list_ms["p99"]),
            "counted_jobs": jobs, "counts_match": jobs == args.rows,
            "queue_depth": queued, "queue_matches": queued == expected_queued,
            "meets_target": scrape_ms["p99"] <= TARGET_P99_MS and jobs == args.rows}


def main() -> None:
    p = parser(__doc__.splitlines()[0], samples=300, warmup=20)
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--backends", default="sqlite,postgresql")
    args = p.parse_args()
    emit_per_backend(
        "metrics", args, measure,
        metric="/metrics scrape over HTTP, store counts read every scrape (ms); "
               "baseline a v2 list call (first page of 10)",
        samples=args.samples, warmup=args.warmup, target={"p99_ms": TARGET_P99_MS})


if __name__ == "__main__":
    main()
