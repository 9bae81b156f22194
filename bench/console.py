"""Console: the server time of the API calls the web console's pages make, with
1,000,000 jobs in the store, beside the same calls on a store of 1,000 jobs.

Two ``mrsjobs serve`` on SQLite (``--backends`` adds PostgreSQL), their jobs bulk-loaded
as ``bench/list.py`` loads them (``_load.py``). A page's time is the sum of its calls,
made one after another on a keep-alive client over loopback, as the page makes them:

- ``jobs``: the jobs page as it opens (and every refresh): page 1 of 10, no filter;
- ``jobs_filtered``: a state and a name filter, a page among the first five;
- ``jobs_oldest``: the "Oldest first" button: page 1 of the list in the other order
  (the console's way to the end of the list);
- ``jobs_deep``: page 1,000 of the unfiltered list (10,000 rows in): what paging on
  and on costs, as the v2 API pages by offset;
- ``job``: an ended job's page: its detail, and its stdout log followed until the
  ``end`` event, if the server has the log route.

Rounds alternate which store goes first; the first ``--warmup`` rounds are not kept.
Checked: an unfiltered list's ``total_record`` is the store's size, no page holds more
than its size, and a followed log ends with its ``end`` event.

    .venv/bin/python bench/console.py [--samples 200] [--rows 1000000]
"""

from __future__ import annotations

import random
import time
import uuid
from typing import Any

import httpx

from _harness import Bench, Server, log, parser
from _load import DAY_MS, Layout, database_url, emit_per_backend, load
from _load import _state as loaded_state
from _stats import ratio, summary
from mrsjobs.bootstrap import ensure_defaults, open_store
from mrsjobs.settings import Settings

BASELINE_ROWS = 1000
PAGE = 10
DEEP_PAGE = 1000
PAGES = ("jobs", "jobs_filtered", "jobs_oldest", "jobs_deep", "job")
TARGET_P99_MS = 50.0
ENDED = frozenset({"FINISHED", "FAILED", "KILLED"})
#: A followed log that has not ended by then fails the run rather than hang it.
FOLLOW_TIMEOUT_S = 30.0


class Store:
    """One loaded server and the calls its console pages make."""

    def __init__(self, bench: Bench, backend: str, name: str, rows: int) -> None:
        self.rows = rows
        self.server = Server(bench.root, name, {"MRSJOBS_MAX_RUNNING": "0"})
        bench.servers.append(self.server)
        self.has_log_route = False
        self.mismatches = 0
        self.backend, self.name = backend, name

    def load(self, url: str) -> float:
        if self.backend != "sqlite":
            self.server.overrides = {**self.server.overrides, "MRSJOBS_DATABASE_URL": url}
        store = open_store(Settings(data_dir=self.server.data_dir, database_url=url))
        try:
            defaults = ensure_defaults(store)
        finally:
            store.close()
        layout = Layout(self.rows, int(time.time() * 1000) - 5 * DAY_MS, 4 * DAY_MS)
        t0 = time.monotonic()
        load(url, defaults.project_id, defaults.cluster_id, layout)
        return time.monotonic() - t0

    def start(self) -> httpx.Client:
        self.server.start()
        client = self.server.client()
        probe = client.get(f"{self.server.jobs_path}/{uuid.UUID(int=1)}/log")
        self.has_log_route = probe.status_code != 404
        return client

    def ended_job(self, rng: random.Random) -> int:
        """The index of a loaded job that has ended: a followed log of a job that still
        runs would not end (and the loaded RUNNING jobs never do)."""
        while True:
            i = rng.randrange(self.rows)
            if loaded_state(i)[0] in ENDED:
                return i

    def _list(self, client: httpx.Client, params: dict[str, str]) -> tuple[float, int]:
        t = time.perf_counter_ns()
        resp = client.get(self.server.jobs_path, params=params)
        elapsed = (time.perf_counter_ns() - t) / 1e6
        if resp.status_code != 202:
            raise RuntimeError(f"list: {resp.status_code} {resp.text}")
        body = resp.json()
        if len(body["job_list"]) > int(params["limit"]):
            self.mismatches += 1
        total: int = body["total_record"]
        return elapsed, total

    def page(self, client: httpx.Client, kind: str, rng: random.Random) -> float:
        if kind == "jobs":
            elapsed, total = self._list(client, {"offset": "1", "limit": str(PAGE)})
            self.mismatches += total != self.rows
            return elapsed
        if kind == "jobs_filtered":
            params = {"job_state": rng.choice(("FINISHED", "FAILED", "RUNNING")),
                      "job_name": f"job-{rng.randrange(1000):03d}",
                      "offset": str(rng.randint(1, 5)), "limit": str(PAGE)}
            return self._list(client, params)[0]
        if kind in ("jobs_oldest", "jobs_deep"):
            params = ({"sort_by": "asc", "offset": "1"} if kind == "jobs_oldest"
                      else {"offset": str(min(DEEP_PAGE, -(-self.rows // PAGE)))})
            elapsed, total = self._list(client, {**params, "limit": str(PAGE)})
            self.mismatches += total != self.rows
            return elapsed
        job_id = str(uuid.UUID(int=self.ended_job(rng) + 1))
        path = f"{self.server.jobs_path}/{job_id}"
        t = time.perf_counter_ns()
        resp = client.get(path)
        if resp.status_code != 202:
            raise RuntimeError(f"show: {resp.status_code} {resp.text}")
        if self.has_log_route:
            with client.stream("GET", path + "/log", timeout=FOLLOW_TIMEOUT_S,
                               params={"type": "stdout", "follow": "true"}) as log_resp:
                ended = any(line.startswith("event: end") for line in log_resp.iter_lines())
            self.mismatches += not ended
        return (time.perf_counter_ns() - t) / 1e6


def measure(bench: Bench, backend: str, args: Any) -> dict[str, Any]:
    stores = [Store(bench, backend, f"{backend}-big", args.rows),
              Store(bench, backend, f"{backend}-baseline", BASELINE_ROWS)]
    with database_url(backend, stores[0].server.data_dir) as big_url, \
            database_url(backend, stores[1].server.data_dir) as small_url:
        load_s = {}
        for store, url in zip(stores, (big_url, small_url), strict=True):
            load_s[store.name] = round(store.load(url), 1)
            log(f"{store.name}: loaded {store.rows} jobs in {load_s[store.name]}s")
        clients = [store.start() for store in stores]
        times: dict[str, dict[str, list[float]]] = {
            s.name: {k: [] for k in PAGES} for s in stores}
        rng = random.Random(7)
        try:
            for i in range(args.warmup + args.samples):
                order = [0, 1] if i % 2 == 0 else [1, 0]
                for kind in PAGES:
                    seed = rng.random()
                    for k in order:
                        # The same filter and page on both stores in a round.
                        took = stores[k].page(clients[k], kind, random.Random(seed))
                        if i >= args.warmup:
                            times[stores[k].name][kind].append(took)
                if i + 1 == args.warmup:
                    log(f"{backend}: warm-up done")
                elif i >= args.warmup and (i + 1 - args.warmup) % 50 == 0:
                    log(f"{backend}: {i + 1 - args.warmup} of {args.samples} rounds")
        finally:
            for client in clients:
                client.close()
            for store in stores:
                store.server.stop()
    big, small = stores
    pages: dict[str, Any] = {}
    for kind in PAGES:
        b, s = summary(times[big.name][kind]), summary(times[small.name][kind])
        pages[kind] = {f"{args.rows}_jobs": b, f"{BASELINE_ROWS}_jobs": s,
                       "ratio_p50": ratio(b["p50"], s["p50"]),
                       "ratio_p99": ratio(b["p99"], s["p99"]),
                       "meets_target": b["p99"] <= TARGET_P99_MS}
        log(f"{backend} {kind}: p50 {b['p50']} ms, p99 {b['p99']} ms "
            f"(baseline p50 {s['p50']} ms, p99 {s['p99']} ms)")
    return {"rows": args.rows, "baseline_rows": BASELINE_ROWS, "load_s": load_s,
            "log_route": big.has_log_route, "pages": pages,
            "mismatches": big.mismatches + small.mismatches,
            "meets_target": all(p["meets_target"] for p in pages.values())}


def main() -> None:
    p = parser(__doc__.splitlines()[0], samples=200, warmup=10)
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--backends", default="sqlite")
    args = p.parse_args()
    emit_per_backend(
        "console", args, measure,
        metric="server time of a console page's API calls over loopback (ms), "
               f"{args.rows} jobs vs a baseline store of {BASELINE_ROWS}",
        samples_per_page=args.samples, warmup=args.warmup,
        target={"p99_ms": TARGET_P99_MS},
    )


if __name__ == "__main__":
    main()
