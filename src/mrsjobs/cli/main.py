"""The ``mrsjobs`` command: ``serve``, operator commands, and the API client commands."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from rich.text import Text

from ..bootstrap import ServerKeyMismatch, ensure_defaults, open_accounts, open_store
from ..engines.local.shim import read_log
from ..settings import Settings
from . import jobs
from .admin import add_commands
from .client import Api, ApiError, add_arguments
from .clusters import add_commands as add_cluster_commands
from .console import err


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
    err.print(Text.assemble(("mrsjobs", "bold"),
                            f" {title}serving data directory {settings.data_dir}"))
    err.print(_first_call_help(settings, defaults.project_id, defaults.cluster_id), soft_wrap=True)
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


def _print_response(resp: Any) -> int:
    if resp.content:
        print(json.dumps(resp.json(), indent=2))
    return 0


def _files(args: argparse.Namespace) -> tuple[Api, str, str]:
    """The client, the cluster's files route and ``args.hdfs_path`` as ``/dir/name``."""
    api = Api.from_args(args)
    return api, api.files_path, args.hdfs_path.removeprefix("hdfs://") or "/"


def cmd_files_put(args: argparse.Namespace) -> int:
    client, path, area_path = _files(args)
    with open(args.local_file, "rb") as f:
        resp = client.call("PUT", path, params={"path": area_path}, content=f,
                           headers={"Content-Type": "application/octet-stream"})
    return _print_response(resp)


def cmd_files_ls(args: argparse.Namespace) -> int:
    client, path, area_path = _files(args)
    params = {"path": area_path, "limit": str(args.limit), "offset": str(args.offset)}
    return _print_response(client.call("GET", path, params=params))


def cmd_files_rm(args: argparse.Namespace) -> int:
    client, path, area_path = _files(args)
    client.call("DELETE", path, params={"path": area_path})
    print(f"deleted {area_path}")
    return 0


def cmd_logs(args: argparse.Namespace) -> int:
    if args.data_dir is None:
        return jobs.cmd_logs(args)
    # On the service's host: the run directory itself.
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

    jobs.add_commands(sub)

    group = sub.add_parser("files", help="the cluster's file area (hdfs:///path)").add_subparsers(
        dest="files_command", required=True)
    p = group.add_parser("put", help="upload a local file to HDFS_PATH")
    add_arguments(p)
    p.add_argument("local_file", type=Path)
    p.add_argument("hdfs_path", help="/dir/name or hdfs:///dir/name")
    p.set_defaults(func=cmd_files_put)
    p = group.add_parser("ls", help="list a directory (default /)")
    add_arguments(p)
    p.add_argument("--limit", type=int, default=100)
    p.add_argument("--offset", type=int, default=1, help="page number, from 1")
    p.add_argument("hdfs_path", nargs="?", default="/")
    p.set_defaults(func=cmd_files_ls)
    p = group.add_parser("rm", help="delete a file or a directory with its contents")
    add_arguments(p)
    p.add_argument("hdfs_path")
    p.set_defaults(func=cmd_files_rm)

    p = sub.add_parser("logs", help="print a job's stdout (or --stderr); -f: follow it "
                       "until the job ends")
    add_arguments(p)
    p.add_argument("--data-dir", type=Path,
                   help="read the log from this data directory on the service's host "
                   "instead of the API")
    p.add_argument("-f", "--follow", action="store_true")
    p.add_argument("--stderr", action="store_true")
    p.add_argument("job_id")
    p.set_defaults(func=cmd_logs)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except ApiError as exc:
        # One line, the way the API says it: no traceback.
        err.print(f"{exc.code}: {exc.message}", soft_wrap=True)
        return 1
    except KeyboardInterrupt:
        return 130
    return code

