"""Operator commands on a data directory's clusters: create one with its engine and
settings, list, show and delete them. They work with the server running or not: a
running server sees a new cluster at once and a deleted one within seconds."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.table import Table

from ..bootstrap import ensure_defaults, open_store
from ..domain.clusters import ClusterConfig, ClusterEngine
from ..domain.errors import ClusterNotFound
from ..engines.spark_standalone.rest import read_key
from ..service.clusters import create_cluster
from ..settings import Settings
from ..store import Cluster, Store
from ..store.clusters import ClusterConflict
from .admin import name_arg, project_arg
from .console import err, out


@contextmanager
def _store(args: argparse.Namespace) -> Iterator[tuple[Store, Settings]]:
    settings = Settings(**({"data_dir": args.data_dir} if args.data_dir else {}))
    store = open_store(settings)
    ensure_defaults(store)
    try:
        yield store, settings
    except ClusterConflict as exc:
        raise SystemExit(f"mrsjobs: {exc}") from None
    finally:
        store.close()


def _files_at(cluster: Cluster, settings: Settings) -> str:
    return cluster.files_root or str(settings.files_dir(cluster.id).resolve())


def _record(cluster: Cluster, settings: Settings) -> dict[str, Any]:
    return {"id": cluster.id, "project_id": cluster.project_id, "name": cluster.name,
            "engine": cluster.engine.value, "master_url": cluster.master_url,
            "rest_url": cluster.rest_url, "web_url": cluster.config.master_web_url,
            "files_root": cluster.files_root, "link_bridge": cluster.link_bridge,
            "link_addresses": cluster.link_addresses, "rest_key_file": cluster.rest_key_file,
            "files_at": _files_at(cluster, settings), "max_running": cluster.max_running,
            "components": sorted(c.value for c in cluster.components),
            "created_ms": cluster.created_ms}


def _cluster_of(store: Store, cluster_id: str) -> Cluster:
    found = store.cluster_by_id(cluster_id)
    if found is None:
        raise SystemExit(f"mrsjobs: no cluster {cluster_id}")
    return found


# -- commands ----------------------------------------------------------------------


def cluster_create(args: argparse.Namespace) -> int:
    files_root = str(Path(args.files_root).absolute()) if args.files_root else None
    config = ClusterConfig(ClusterEngine(args.engine), args.master, args.rest_url,
                           files_root, args.max_running, args.web_url, args.link_bridge,
                           args.link_addresses,
                           str(Path(args.rest_key_file).absolute()) if args.rest_key_file
                           else None)
    if config.rest_key_file:
        try:  # read now, so that a wrong file is told here, not by a failed job
            read_key(config.rest_key_file)
        except ValueError as exc:
            raise SystemExit(f"mrsjobs: --rest-key-file: {exc}") from None
    with _store(args) as (store, settings):
        if args.project not in store.project_ids():
            raise SystemExit(f"mrsjobs: no project {args.project}")
        try:
            cluster = create_cluster(store, args.project, args.name, config)
        except ValueError as exc:
            raise SystemExit(f"mrsjobs: {exc}") from None
        record = _record(cluster, settings)
    if args.json:
        print(json.dumps(record))
    else:
        print(cluster.id)
        err.print(f"{cluster.engine.value} cluster {cluster.name} in project "
                  f"{cluster.project_id}; its files (hdfs:///) at {record['files_at']}")
    return 0


def cluster_list(args: argparse.Namespace) -> int:
    with _store(args) as (store, settings):
        rows = [_record(c, settings) for c in store.clusters(args.project)]
    if args.json:
        print(json.dumps(rows))
        return 0
    table = Table()
    for title in ("id", "project", "name", "engine", "master", "max running"):
        table.add_column(title, overflow="fold")  # ids whole, however narrow the screen
    for r in rows:
        table.add_row(r["id"], r["project_id"], r["name"], r["engine"],
                      r["master_url"] or "-", str(r["max_running"] or "-"))
    out.print(table)
    return 0


def cluster_show(args: argparse.Namespace) -> int:
    with _store(args) as (store, settings):
        record = _record(_cluster_of(store, args.cluster_id), settings)
    if args.json:
        print(json.dumps(record))
    else:
        for key, value in record.items():
            shown = ",".join(value) if isinstance(value, list) else value
            out.print(f"{key:11}: {'-' if shown is None else shown}")
    return 0


def cluster_delete(args: argparse.Namespace) -> int:
    """Refused while a job of the cluster has not ended; its file area stays."""
    with _store(args) as (store, settings):
        cluster = _cluster_of(store, args.cluster_id)
        try:
            gone = store.delete_cluster(cluster.id)
        except ClusterNotFound:
            raise SystemExit(f"mrsjobs: no cluster {args.cluster_id}") from None
    err.print(f"deleted cluster {cluster.id} with the records of its {gone} ended jobs; "
              f"its files at {_files_at(cluster, settings)} are left in place")
    return 0


# -- the parser --------------------------------------------------------------------


def max_running_arg(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r}: expected a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value}: must be at least 1")
    return number


def _command(group: Any, name: str, func: Any, help_: str, *, json_out: bool = True
             ) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = group.add_parser(name, help=help_)
    p.add_argument("--data-dir", type=Path, help="state directory (env MRSJOBS_DATA_DIR)")
    if json_out:
        p.add_argument("--json", action="store_true")
    p.set_defaults(func=func)
    return p


def add_commands(sub: Any) -> None:
    group = sub.add_parser("cluster", help="manage clusters").add_subparsers(
        dest="action", required=True)
    p = _command(group, "create", cluster_create,
                 "create a cluster and print its id")
    p.add_argument("--project", required=True, type=project_arg)
    p.add_argument("--name", required=True, type=name_arg, help="unique in the project")
    p.add_argument("--engine", choices=[e.value for e in ClusterEngine],
                   default=ClusterEngine.LOCAL.value, help="what runs its jobs")
    p.add_argument("--master", help="spark-standalone: the master (spark://HOST:7077)")
    p.add_argument("--rest-url", help="spark-standalone: the master's REST submission "
                                      "server (http://HOST:6066)")
    p.add_argument("--web-url", help="spark-standalone: the master's web UI, if not "
                                     "http://MASTER-HOST:8080")
    p.add_argument("--rest-key-file", help="spark-standalone: a file holding the key "
                                           "(base64url) that the master's REST server "
                                           "checks signed tokens with (Spark's JWSFilter)")
    p.add_argument("--link-bridge", help="spark-standalone: the bridge on this host that "
                                         "the cluster's network is reached through")
    p.add_argument("--link-addresses", help="spark-standalone: addresses of that network "
                                            "(A.B.C.D/N) for the drivers of SQL jobs that "
                                            "run on this host")
    p.add_argument("--files-root", help="the directory its file area (hdfs:///) is, "
                                        "seen alike by every host of the cluster")
    p.add_argument("--max-running", type=max_running_arg,
                   help="its cap on running jobs (default: MRSJOBS_MAX_RUNNING)")
    p = _command(group, "list", cluster_list, "list clusters")
    p.add_argument("--project", type=project_arg)
    p = _command(group, "show", cluster_show, "show a cluster")
    p.add_argument("cluster_id")
    p = _command(group, "delete", cluster_delete,
                 "delete a cluster whose jobs have all ended, with their records",
                 json_out=False)
    p.add_argument("cluster_id")
