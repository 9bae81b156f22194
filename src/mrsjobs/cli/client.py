"""The HTTP client of the client commands: where to call and as whom (a flag, else the
environment, else what ``mrsjobs login`` kept), and MRS error envelopes turned into
one exception that the command line prints as ``error_code: error_msg``."""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from . import config

DEFAULT_ENDPOINT = "http://127.0.0.1:9529"
RELOGIN = "run `mrsjobs login` again: the kept token is no longer accepted"


class ApiError(Exception):
    """An answer in MRS's error envelope (or a failure to get one)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def error_of(resp: httpx.Response) -> ApiError:
    try:
        body = resp.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and "error_code" in body:
        return ApiError(str(body["error_code"]), str(body.get("error_msg", "")))
    return ApiError(str(resp.status_code), resp.reason_phrase or resp.text[:200])


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The flags of every client command; each overrides its variable and the login."""
    p.add_argument("--endpoint", help="the API's URL (env MRSJOBS_ENDPOINT)")
    p.add_argument("--token", help="X-Auth-Token (env MRSJOBS_TOKEN)")
    p.add_argument("--project", help="project id (env MRSJOBS_PROJECT)")
    p.add_argument("--cluster", help="cluster id (env MRSJOBS_CLUSTER)")


def _pick(args: argparse.Namespace, name: str, kept: str) -> str:
    given: str | None = getattr(args, name, None)
    return given or os.environ.get(f"MRSJOBS_{name.upper()}") or kept


@dataclass
class Api:
    endpoint: str
    project: str
    cluster: str
    http: httpx.Client
    #: The token is the one login kept: a refusal of it says to log in again.
    kept_token: bool = False

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Api:
        kept = config.load()
        endpoint = _pick(args, "endpoint", kept.endpoint) or DEFAULT_ENDPOINT
        token = _pick(args, "token", kept.token if endpoint == kept.endpoint else "")
        project, cluster = _pick(args, "project", kept.project), _pick(args, "cluster",
                                                                       kept.cluster)
        for name, value in (("token", token), ("project", project), ("cluster", cluster)):
            if not value:
                raise SystemExit(f"mrsjobs: no {name}: give --{name}, set "
                                 f"MRSJOBS_{name.upper()} or run `mrsjobs login`")
        http = httpx.Client(base_url=endpoint, headers={"X-Auth-Token": token}, timeout=30)
        return cls(endpoint, project, cluster, http,
                   kept_token=token == kept.token and not getattr(args, "token", None)
                   and not os.environ.get("MRSJOBS_TOKEN"))

    @property
    def jobs_path(self) -> str:
        return f"/v2/{self.project}/clusters/{self.cluster}/job-executions"

    @property
    def files_path(self) -> str:
        return f"/v2/{self.project}/clusters/{self.cluster}/files"

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """The answer; ApiError if it is an error."""
        try:
            resp = self.http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise ApiError("connection", f"cannot reach {self.endpoint}: {exc}") from None
        if resp.status_code >= 400:
            raise self._error(resp)
        return resp

    def _error(self, resp: httpx.Response) -> ApiError:
        error = error_of(resp)
        if resp.status_code == 401 and self.kept_token:
            return ApiError(error.code, f"{error.message} ({RELOGIN})")
        return error

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.call(method, path, **kwargs).json()

    def stream(self, path: str, params: dict[str, str]) -> Iterator[str]:
        """The lines of a streamed answer (server-sent events)."""
        try:
            with self.http.stream("GET", path, params=params,
                                  timeout=httpx.Timeout(30, read=None)) as resp:
                if resp.status_code >= 400:
                    resp.read()
                    raise self._error(resp)
                yield from resp.iter_lines()
        except httpx.TransportError as exc:
            raise ApiError("connection", f"lost {self.endpoint}: {exc}") from None
