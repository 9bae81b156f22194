"""The ``mrsjobs`` command: ``serve``, operator commands, and a small API client."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path
from typing import Any

from rich.console import Console

from ..bootstrap import ServerKeyMismatch, ensure_defaults, open_accounts, open_store
from ..engines.local.shim import read_log
from ..settings import Settings
from .admin import add_commands
from .clusters import add_commands as add_cluster_commands

err = Console(stderr=True)


def _settings(args: argparse.Namespace) -> Settings:
    given = {k: v for k, v in (("host", getattr(args, "host", None)),
                               ("port", getattr(args, "port", None)),
                               ("data_dir", getattr(args, "data_dir", None)))
             if v is not None}
    return Settings(**given)


def _first_call_help(settings: Settings, project_id: str, cluster_id: str) -> str:
    url = f"http://{settings.host}:{settings.port}"
    data = f" --data-dir {settings.data_dir}" if settings.data_dir != Path("var") else ""
    return (
        f"project id : {project_id}\n"
        f"cluster id : {cluster_id}\n"
        f"API        : {url}\n"
        f"token      : TOKEN=$(mrsjobs token create{data} --project {project_id} --user $USER)\n"
        f"first call : curl -H \"X-Auth-Token: $TOKEN\" "
        f"{url}/v2/{project_id}/clusters/{cluster_id}/job-executions"
    )


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from ..api.app import create_app
    from ..api.connections import bounded_protocol, connection_cap, raise_fd_limit

    settings = _settings(args)
    store = open_store(settings)
    defaults = ensure_defaults(store)
    try:
        open_accounts(settings, store)  # refuses a server key the other instances lack
    except ServerKeyMismatch as exc:
        print(f"mrsjobs: {exc}", file=sys.stderr)
        return 3
    finally:
        store.close()
    # The supervisor thread hands the GIL back at every SQLite call and process
    # start; under a busy API it would wait up to a whole switch interval (5 ms)
    # each time. A shorter interval keeps dispatch and kill latency low.
    sys.setswitchinterval(0.0005)
    title = "first start: " if defaults.created else ""
    err.print(f"[bold]mrsjobs[/bold] {title}serving data directory {settings.data_dir}")
    err.print(_first_call_help(settings, defaults.project_id, defaults.cluster_id),
              highlight=False, soft_wrap=True)
    # Connections are bounded (see connections.py): a thousand idle sockets must not
    # take every descriptor, and a socket that sends no request is closed.
    max_connections = connection_cap(settings.max_connections, raise_fd_limit())
    app = create_app(settings)
    uvicorn.run(app, host=settings.host, port=settings.port,
                log_level=args.log_level, access_log=False,
                http=bounded_protocol(max_connections, settings.header_timeout_s,
                                      on_shutdown=app.state.closing.set),
                # Above the cap, so it bounds tasks and never refuses a kept connection.
                limit_concurrency=max_connections + 1, backlog=max_connections,
                timeout_keep_alive=max(1, math.ceil(settings.idle_timeout_s)))
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    settings = _settings(args)
    store = open_store(settings)
    defaults = ensure_defaults(store)
    store.close()
    info = {"project_id": defaults.project_id, "cluster_id": defaults.cluster_id,
            "data_dir": str(settings.data_dir),
            "endpoint": f"http://{settings.host}:{settings.port}"}
    if args.json:
        print(json.dumps(info))
    else:
        for key, value in info.items():
            print(f"{key:11}: {value}")
    return 0


# -- client commands ----------------------------------------------------------------


def _client(args: argparse.Namespace) -> tuple[Any, str]:
    import httpx

    token = args.token or os.environ.get("MRSJOBS_TOKEN")
    if not token:
        raise SystemExit("mrsjobs: give --token or set MRSJOBS_TOKEN")
    client = httpx.Client(base_url=args.endpoint, headers={"X-Auth-Token": token}, timeout=30)
    return client, f"/v2/{args.project}/clusters/{args.cluster}/job-executions"


def _print_response(resp: Any) -> int:
    if resp.content:
        print(json.dumps(resp.json(), indent=2))
    return 0 if resp.status_code < 400 else 1


def cmd_submit(args: argparse.Namespace) -> int:
    client, path = _client(args)
    body = {"job_type": args.type, "job_name": args.name, "arguments": args.arguments,
            "properties": dict(p.split("=", 1) for p in args.prop)}
    return _print_response(client.post(path, json=body))


def cmd_list(args: argparse.Namespace) -> int:
    client, path = _client(args)
    params = {k: v for k, v in (("job_state", args.state), ("limit", str(args.limit))) if v}
    return _print_response(client.get(path, params=params))


def cmd_show(args: argparse.Namespace) -> int:
    client, path = _client(args)
    return _print_response(client.get(f"{path}/{args.job_id}"))


def cmd_kill(args: argparse.Namespace) -> int:
    client, path = _client(args)
    resp = client.post(f"{path}/{args.job_id}/kill")
    if resp.status_code == 202:
        print(f"kill requested for {args.job_id}")
        return 0
    return _print_response(resp)


def _files(args: argparse.Namespace) -> tuple[Any, str, str]:
    """The client, the cluster's files route and ``args.hdfs_path`` as ``/dir/name``."""
    client, jobs = _client(args)
    area_path = args.hdfs_path.removeprefix("hdfs://") or "/"
    return client, jobs.removesuffix("/job-executions") + "/files", area_path


def cmd_files_put(args: argparse.Namespace) -> int:
    client, path, area_path = _files(args)
    with open(args.local_file, "rb") as f:
        resp = client.put(path, params={"path": area_path}, content=f,
                          headers={"Content-Type": "application/octet-stream"})
    return _print_response(resp)


def cmd_files_ls(args: argparse.Namespace) -> int:
    client, path, area_path = _files(args)
    params = {"path": area_path, "limit": str(args.limit), "offset": str(args.offset)}
    return _print_response(client.get(path, params=params))


def cmd_files_rm(args: argparse.Namespace) -> int:
    client, path, area_path = _files(args)
    resp = client.delete(path, params={"path": area_path})
    if resp.status_code == 204:
        print(f"deleted {area_path}")
        return 0
    return _print_response(resp)


def cmd_logs(args: argparse.Namespace) -> int:
    run_dir = _settings(args).runs_dir / args.job_id
    path = run_dir / ("stderr.log" if args.stderr else "stdout.log")
    text = read_log(str(path))
    if text is None:
        err.print(f"no log for job {args.job_id} in {run_dir}")
        return 1
    sys.stdout.write(text.decode(errors="replace"))
    return 0


def _data_dir(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", type=Path, help="state directory (env MRSJOBS_DATA_DIR)")


def _api(p: argparse.ArgumentParser) -> None:
    p.add_argument("--endpoint", default=os.environ.get("MRSJOBS_ENDPOINT",
                                                         "http://127.0.0.1:9529"))
    p.add_argument("--token", help="X-Auth-Token (env MRSJOBS_TOKEN)")
    p.add_argument("--project", required=True)
    p.add_argument("--cluster", required=True)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="mrsjobs", description=__doc__)
    sub = root.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="run the API and the local cluster")
    p.add_argument("--host", help="bind address (env MRSJOBS_HOST, default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (env MRSJOBS_PORT, default 9529)")
    p.add_argument("--log-level", default="info")
    _data_dir(p)
    p.set_defaults(func=cmd_serve)

    add_commands(sub)
    add_cluster_commands(sub)

    p = sub.add_parser("info", help="the default project and cluster ids")
    p.add_argument("--json", action="store_true")
    _data_dir(p)
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("submit", help="submit a job")
    _api(p)
    p.add_argument("--type", required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--prop", action="append", default=[], metavar="K=V")
    p.add_argument("arguments", nargs="*")
    p.set_defaults(func=cmd_submit)

    p = sub.add_parser("list", help="list jobs")
    _api(p)
    p.add_argument("--state")
    p.add_argument("--limit", type=int, default=10)
    p.set_defaults(func=cmd_list)

    for name, func in (("show", cmd_show), ("kill", cmd_kill)):
        p = sub.add_parser(name, help=f"{name} a job")
        _api(p)
        p.add_argument("job_id")
        p.set_defaults(func=func)

    group = sub.add_parser("files", help="the cluster's file area (hdfs:///path)").add_subparsers(
        dest="files_command", required=True)
    p = group.add_parser("put", help="upload a local file to HDFS_PATH")
    _api(p)
    p.add_argument("local_file", type=Path)
    p.add_argument("hdfs_path", help="/dir/name or hdfs:///dir/name")
    p.set_defaults(func=cmd_files_put)
    p = group.add_parser("ls", help="list a directory (default /)")
    _api(p)
    p.add_argument("--limit", type=int, default=100)
    p.add_argument("--offset", type=int, default=1, help="page number, from 1")
    p.add_argument("hdfs_path", nargs="?", default="/")
    p.set_defaults(func=cmd_files_ls)
    p = group.add_parser("rm", help="delete a file or a directory with its contents")
    _api(p)
    p.add_argument("hdfs_path")
    p.set_defaults(func=cmd_files_rm)

    p = sub.add_parser("logs", help="print a job's stdout (or --stderr)")
    _data_dir(p)
    p.add_argument("--stderr", action="store_true")
    p.add_argument("job_id")
    p.set_defaults(func=cmd_logs)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    code: int = args.func(args)
    return code

