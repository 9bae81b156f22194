"""The client commands on jobs: ``login``, ``list``, ``show``, ``submit [--wait]``,
``kill``, ``logs [-f]`` and ``watch``. Tables by default, the API's own JSON with
``--json``; the endpoint, project, cluster and token come from :mod:`.client`."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
from rich.live import Live
from rich.table import Table
from rich.text import Text

from . import config
from .client import DEFAULT_ENDPOINT, Api, ApiError, add_arguments, error_of
from .console import err, out

#: ``submit --wait`` exits with the job's result: 0 SUCCEEDED, these otherwise.
EXIT_OF = {"SUCCEEDED": 0, "FAILED": 1, "KILLED": 3}
TERMINAL = ("FINISHED", "FAILED", "KILLED")
WAIT_POLL_S = 0.25

STATE_STYLE = {"RUNNING": "cyan", "FINISHED": "green", "FAILED": "red", "KILLED": "yellow"}
RESULT_STYLE = {"SUCCEEDED": "green", "FAILED": "red", "KILLED": "yellow"}


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2))


def _time(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M:%S") if ms else "-"


def _elapsed(ms: int) -> str:
    if not ms:
        return "-"
    seconds = ms / 1000
    return f"{seconds:.1f}s" if seconds < 60 else f"{int(seconds // 60)}m{int(seconds % 60):02d}s"


def jobs_table(jobs: list[dict[str, Any]], total: int | None = None) -> Table:
    title = None if total is None else f"{len(jobs)} of {total} jobs"
    table = Table(title=title, title_justify="left")
    table.add_column("job id", overflow="fold", no_wrap=False)
    for name in ("name", "type", "state", "result", "user", "submitted", "elapsed"):
        table.add_column(name)
    table.add_column("diagnostics", overflow="fold")
    for job in jobs:
        table.add_row(
            job["job_id"], job["job_name"], job["job_type"],
            Text(job["job_state"], style=STATE_STYLE.get(job["job_state"], "")),
            Text(job["job_result"], style=RESULT_STYLE.get(job["job_result"], "")),
            job["user"], _time(job["submitted_time"]), _elapsed(job["elapsed_time"]),
            job.get("diagnostics") or "")
    return table


def _list(api: Api, args: argparse.Namespace) -> dict[str, Any]:
    params = {k: v for k, v in (("job_state", args.state), ("limit", str(args.limit))) if v}
    body: dict[str, Any] = api.json("GET", api.jobs_path, params=params)
    return body


def cmd_login(args: argparse.Namespace) -> int:
    endpoint = args.endpoint or DEFAULT_ENDPOINT
    user = ""
    expires_at = ""
    if args.token:
        token = args.token
    else:
        if not args.user:
            raise SystemExit("mrsjobs: give --user (with a password) or --token")
        user = args.user
        password = (sys.stdin.readline().rstrip("\r\n") if args.password_stdin
                    else getpass.getpass(f"password of {user}: "))
        token, expires_at = _sign_in(endpoint, args.project, user, password)
    api = Api(endpoint, args.project, args.cluster,
              httpx.Client(base_url=endpoint, headers={"X-Auth-Token": token}, timeout=30))
    api.call("GET", api.jobs_path, params={"limit": "1"})  # the project and cluster answer
    path = config.save(config.ClientConfig(endpoint, args.project, args.cluster, token,
                                           user, expires_at))
    who = f"as {user}" if user else "with a token"
    until = f", until {expires_at}" if expires_at else ""
    err.print(f"logged in to {endpoint} {who}: project {args.project}, cluster "
              f"{args.cluster}{until} (kept in {path})")
    return 0


def _sign_in(endpoint: str, project: str, user: str, password: str) -> tuple[str, str]:
    """A token of ``user`` scoped to ``project``, through the Keystone route."""
    body = {"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": user, "domain": {"name": "Default"}, "password": password}}},
        "scope": {"project": {"id": project}}}}
    try:
        resp = httpx.post(f"{endpoint.rstrip('/')}/v3/auth/tokens", json=body, timeout=30)
    except httpx.TransportError as exc:
        raise ApiError("connection", f"cannot reach {endpoint}: {exc}") from None
    if resp.status_code >= 400:
        raise error_of(resp)
    expires = resp.json().get("token", {}).get("expires_at") or ""
    return resp.headers["X-Subject-Token"], str(expires)


def cmd_list(args: argparse.Namespace) -> int:
    body = _list(Api.from_args(args), args)
    if args.json:
        _print_json(body)
    else:
        out.print(jobs_table(body["job_list"], body["total_record"]))
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    api = Api.from_args(args)
    body = api.json("GET", f"{api.jobs_path}/{args.job_id}")
    if args.json:
        _print_json(body)
        return 0
    table = Table(show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for key, value in body["job_detail"].items():
        shown = _time(value) if key.endswith("_time") and key != "elapsed_time" else (
            _elapsed(value) if key == "elapsed_time" else str(value))
        table.add_row(key, shown)
    out.print(table)
    return 0


def cmd_submit(args: argparse.Namespace) -> int:
    api = Api.from_args(args)
    properties = {}
    for prop in args.prop:
        key, sep, value = prop.partition("=")
        if not sep:
            raise SystemExit(f"mrsjobs: --prop {prop!r} is not KEY=VALUE")
        properties[key] = value
    body = {"job_type": args.type, "job_name": args.name, "arguments": args.arguments,
            "properties": properties}
    submitted = api.json("POST", api.jobs_path, json=body)
    job_id = submitted["job_submit_result"]["job_id"]
    if not args.wait:
        if args.json:
            _print_json(submitted)
        else:
            print(job_id)
        return 0
    detail = wait(api, job_id)
    if args.json:
        _print_json({"job_detail": detail})
    return EXIT_OF.get(detail["job_result"], 1)


def wait(api: Api, job_id: str) -> dict[str, Any]:
    """Show the job's state as it changes (on stderr) until it ends; its last detail."""
    seen = ""
    while True:
        detail: dict[str, Any] = api.json("GET", f"{api.jobs_path}/{job_id}")["job_detail"]
        state = detail["job_state"]
        if state != seen:
            err.print(Text.assemble(f"{_time(int(time.time() * 1000))}  {job_id}  ",
                                    (state, STATE_STYLE.get(state, ""))))
            seen = state
        if state in TERMINAL:
            said = f" ({detail['diagnostics']})" if detail.get("diagnostics") else ""
            err.print(f"{job_id} {detail['job_result']}{said}")
            return detail
        time.sleep(WAIT_POLL_S)


def cmd_kill(args: argparse.Namespace) -> int:
    api = Api.from_args(args)
    api.call("POST", f"{api.jobs_path}/{args.job_id}/kill")
    err.print(f"kill requested for {args.job_id}")
    return 0


def cmd_logs(args: argparse.Namespace) -> int:
    api = Api.from_args(args)
    path = f"{api.jobs_path}/{args.job_id}/log"
    kind = "stderr" if args.stderr else "stdout"
    sink = sys.stdout.buffer
    if args.follow:
        for text in follow(api, path, kind):
            sink.write(text.encode())
            sink.flush()
        return 0
    offset = 0
    while True:  # in pieces of the most the server gives at once
        resp = api.call("GET", path, params={"type": kind, "offset": str(offset)})
        sink.write(resp.content)
        offset = int(resp.headers["x-log-next-offset"])
        if not resp.content or offset >= int(resp.headers["x-log-size"]):
            break
    sink.flush()
    return 0


def follow(api: Api, path: str, kind: str) -> Iterator[str]:
    """The log's text as the job writes it, until the server's ``end`` event."""
    event, data = "message", list[str]()
    for line in api.stream(path, {"type": kind, "follow": "true"}):
        if line == "":
            if event == "end":
                return
            if data:
                yield "\n".join(data)
            event, data = "message", []
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
        elif line.startswith("event:"):
            event = line[6:].strip()


def cmd_watch(args: argparse.Namespace) -> int:
    api = Api.from_args(args)
    try:
        with Live(console=out, auto_refresh=False) as live:
            while True:
                body = _list(api, args)
                live.update(jobs_table(body["job_list"], body["total_record"]), refresh=True)
                time.sleep(args.interval)
    except KeyboardInterrupt:
        return 0


def add_commands(sub: Any) -> None:
    p = sub.add_parser("login", help="sign in and keep the endpoint, project and cluster")
    p.add_argument("--endpoint", help=f"the API's URL (default {DEFAULT_ENDPOINT})")
    p.add_argument("--project", required=True)
    p.add_argument("--cluster", required=True)
    p.add_argument("--user", help="sign in as this user (with a password)")
    p.add_argument("--password-stdin", action="store_true",
                   help="read the password from standard input (else it is asked for)")
    p.add_argument("--token", help="keep this token instead of signing in")
    p.set_defaults(func=cmd_login)

    p = sub.add_parser("submit", help="submit a job (--wait: until it ends; exits 0 if "
                       "it SUCCEEDED, 1 if it FAILED, 3 if KILLED)")
    add_arguments(p)
    p.add_argument("--type", required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--prop", action="append", default=[], metavar="K=V")
    p.add_argument("--wait", action="store_true")
    p.add_argument("--json", action="store_true")
    p.add_argument("arguments", nargs="*")
    p.set_defaults(func=cmd_submit)

    for name, func, help_ in (("list", cmd_list, "list jobs"),
                              ("watch", cmd_watch, "a live table of the jobs")):
        p = sub.add_parser(name, help=help_)
        add_arguments(p)
        p.add_argument("--state")
        p.add_argument("--limit", type=int, default=10 if name == "list" else 20)
        if name == "list":
            p.add_argument("--json", action="store_true")
        else:
            p.add_argument("--interval", type=float, default=1.0, help="seconds")
        p.set_defaults(func=func)

    p = sub.add_parser("show", help="show a job")
    add_arguments(p)
    p.add_argument("--json", action="store_true")
    p.add_argument("job_id")
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("kill", help="kill a job")
    add_arguments(p)
    p.add_argument("job_id")
    p.set_defaults(func=cmd_kill)
