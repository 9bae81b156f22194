"""Operator commands on a data directory's store: projects, users, access keys,
tokens and the audit log. They work with the server running or not."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import re
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..bootstrap import DEFAULT_COMPONENTS, ensure_defaults, open_accounts, open_store
from ..containment.tenants import Tenants
from ..domain.access import Role
from ..identity.accounts import Accounts
from ..settings import Settings
from ..store import Store
from ..store.identity import Conflict, User
from .console import err


def name_arg(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", value):
        raise argparse.ArgumentTypeError(
            f"{value!r}: use 1-64 letters, digits, '_', '-' or '.'")
    return value


def project_arg(value: str) -> str:
    # It appears in every path: /v2/{project_id}/...
    if not re.fullmatch(r"[A-Za-z0-9]{1,64}", value):
        raise argparse.ArgumentTypeError(f"{value!r}: use 1-64 letters and digits")
    return value


@contextmanager
def _open(args: argparse.Namespace) -> Iterator[tuple[Store, Accounts]]:
    settings = Settings(**({"data_dir": args.data_dir} if args.data_dir else {}))
    store = open_store(settings)
    ensure_defaults(store)
    try:
        yield store, open_accounts(settings, store)
    except Conflict as exc:
        raise SystemExit(f"mrsjobs: {exc}") from None
    finally:
        store.close()


@contextmanager
def _accounts(args: argparse.Namespace) -> Iterator[Accounts]:
    with _open(args) as (_, accounts):
        yield accounts


def _project_of(accounts: Accounts, project_id: str) -> str:
    if accounts.store.project(project_id) is None:
        raise SystemExit(f"mrsjobs: no project {project_id}")
    return project_id


def _user_of(accounts: Accounts, project_id: str, name: str) -> User:
    user = accounts.store.user_named(_project_of(accounts, project_id), name)
    if user is None:
        raise SystemExit(f"mrsjobs: no user {name} in project {project_id}")
    return user


def _table(rows: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        print(json.dumps(rows))
        return
    for row in rows:
        print("  ".join(f"{k}={v}" for k, v in row.items()))


# -- commands ----------------------------------------------------------------------


def project_create(args: argparse.Namespace) -> int:
    """A project with one local cluster, so that it can run jobs at once."""
    project_id = args.id or uuid.uuid4().hex
    with _open(args) as (store, _):
        if not store.ensure_project(project_id, args.name):
            raise SystemExit(f"mrsjobs: project {project_id} exists already")
        cluster = store.add_cluster(project_id, "local", DEFAULT_COMPONENTS, str(uuid.uuid4()))
    out = {"project_id": project_id, "cluster_id": cluster.id}
    if args.json:
        print(json.dumps(out))
    else:
        print(project_id)
        err.print(f"cluster id : {cluster.id}")
    return 0


def project_list(args: argparse.Namespace) -> int:
    with _accounts(args) as accounts:
        _table([asdict(p) for p in accounts.store.projects()], args.json)
    return 0


def project_delete(args: argparse.Namespace) -> int:
    with _accounts(args) as accounts:
        if not accounts.store.delete_project(_project_of(accounts, args.project_id)):
            raise SystemExit(f"mrsjobs: no project {args.project_id}")
    if os.geteuid() == 0:
        # Its jobs' OS user and network namespace go with it.
        Tenants().remove(args.project_id)
    err.print(f"deleted project {args.project_id}")
    return 0


def _read_password(args: argparse.Namespace) -> str | None:
    if args.password is not None:
        return str(args.password)
    if args.no_password:
        return None
    if sys.stdin.isatty():
        first = getpass.getpass("password: ")
        if first != getpass.getpass("again: "):
            raise SystemExit("mrsjobs: the passwords differ")
        return first
    return sys.stdin.readline().rstrip("\n") or None


def user_create(args: argparse.Namespace) -> int:
    password = _read_password(args)
    with _accounts(args) as accounts:
        user = accounts.create_user(_project_of(accounts, args.project), args.name,
                                    Role(args.role), password)
    print(user.id)
    return 0


def user_list(args: argparse.Namespace) -> int:
    with _accounts(args) as accounts:
        rows = [{"id": u.id, "project_id": u.project_id, "name": u.name, "role": u.role.value,
                 "password": u.password_hash is not None}
                for u in accounts.store.users(project_id=args.project)]
    _table(rows, args.json)
    return 0


def user_delete(args: argparse.Namespace) -> int:
    with _accounts(args) as accounts:
        accounts.store.delete_user(_user_of(accounts, args.project, args.name).id)
    err.print(f"deleted user {args.name} with its tokens and access keys")
    return 0


def access_key_create(args: argparse.Namespace) -> int:
    with _accounts(args) as accounts:
        ak, sk = accounts.create_access_key(_user_of(accounts, args.project, args.user),
                                            args.description)
    if args.json:
        print(json.dumps({"access_key": ak, "secret_key": sk}))
    else:
        print(f"access_key: {ak}\nsecret_key: {sk}")
        err.print("The secret key is shown only now: keep it safe.")
    return 0


def access_key_list(args: argparse.Namespace) -> int:
    with _accounts(args) as accounts:
        rows = [{"access_key": k.access_key, "project_id": k.project_id, "user": k.user_name,
                 "description": k.description, "created_ms": k.created_ms}
                for k in accounts.store.access_keys(args.project)]
    _table(rows, args.json)
    return 0


def access_key_delete(args: argparse.Namespace) -> int:
    with _accounts(args) as accounts:
        if not accounts.store.delete_access_key(args.access_key):
            raise SystemExit(f"mrsjobs: no access key {args.access_key}")
    err.print(f"deleted access key {args.access_key} (a running server may accept it "
              f"for a few more seconds)")
    return 0


def token_create(args: argparse.Namespace) -> int:
    """A token for the user, who is created as a member if missing."""
    with _open(args) as (store, accounts):
        if store.ensure_project(args.project, args.project):
            err.print(f"created project {args.project}")
        token, _, _ = accounts.issue_token(accounts.ensure_user(args.project, args.user), "cli")
    print(token)
    return 0


def audit_list(args: argparse.Namespace) -> int:
    with _accounts(args) as accounts:
        rows = [asdict(e) for e in accounts.store.audit_events(args.project, args.limit)]
    _table(rows, args.json)
    return 0


# -- the parser --------------------------------------------------------------------


def _data_dir(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", type=Path, help="state directory (env MRSJOBS_DATA_DIR)")


def _command(sub: Any, name: str, func: Callable[[argparse.Namespace], int], help_: str,
             *, json_out: bool = False) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(name, help=help_)
    _data_dir(p)
    if json_out:
        p.add_argument("--json", action="store_true")
    p.set_defaults(func=func)
    return p


def add_commands(sub: Any) -> None:
    group = sub.add_parser("project", help="manage projects").add_subparsers(
        dest="action", required=True)
    p = _command(group, "create", project_create, "create a project with a local cluster",
                 json_out=True)
    p.add_argument("name", type=name_arg)
    p.add_argument("--id", type=project_arg, help="project id (default: a random one)")
    _command(group, "list", project_list, "list projects", json_out=True)
    p = _command(group, "delete", project_delete, "delete a project that has no jobs")
    p.add_argument("project_id", type=project_arg)

    group = sub.add_parser("user", help="manage users").add_subparsers(
        dest="action", required=True)
    p = _command(group, "create", user_create, "create a user (password from --password, "
                 "a prompt, or one line of stdin)")
    p.add_argument("--project", required=True, type=project_arg)
    p.add_argument("--name", required=True, type=name_arg)
    p.add_argument("--role", choices=[r.value for r in Role], default=Role.MEMBER.value)
    p.add_argument("--password")
    p.add_argument("--no-password", action="store_true",
                   help="no password: the user gets tokens and keys from the CLI only")
    p = _command(group, "list", user_list, "list users", json_out=True)
    p.add_argument("--project", type=project_arg)
    p = _command(group, "delete", user_delete, "delete a user, its tokens and access keys")
    p.add_argument("--project", required=True, type=project_arg)
    p.add_argument("--name", required=True, type=name_arg)

    group = sub.add_parser("access-key", help="manage AK/SK access keys").add_subparsers(
        dest="action", required=True)
    p = _command(group, "create", access_key_create,
                 "create an access key and print it with its secret key, once", json_out=True)
    p.add_argument("--project", required=True, type=project_arg)
    p.add_argument("--user", required=True, type=name_arg)
    p.add_argument("--description", default="")
    p = _command(group, "list", access_key_list, "list access keys (never their secrets)",
                 json_out=True)
    p.add_argument("--project", type=project_arg)
    p = _command(group, "delete", access_key_delete, "delete an access key")
    p.add_argument("access_key")

    group = sub.add_parser("token", help="manage API tokens").add_subparsers(
        dest="action", required=True)
    p = _command(group, "create", token_create, "issue a token and print it on stdout")
    p.add_argument("--project", required=True, type=project_arg)
    p.add_argument("--user", required=True, type=name_arg)

    group = sub.add_parser("audit", help="the audit log of job changes").add_subparsers(
        dest="action", required=True)
    p = _command(group, "list", audit_list, "list the newest audit events", json_out=True)
    p.add_argument("--project", type=project_arg)
    p.add_argument("--limit", type=int, default=100)
