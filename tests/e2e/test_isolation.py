"""Every job route against every kind of caller: the owning project's token and access
key, a readonly user of that project, and another project's token."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.support.clients import sdk_signed
from tests.support.server import FAST, Server, new_server, stop_server


@dataclass
class Tenants:
    server: Server
    readonly_token: str
    other_token: str
    other_project: str
    other_cluster: str


def keystone_token(server: Server, user: str, password: str, project_id: str) -> str:
    body = {"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": user, "domain": {"name": "Default"}, "password": password}}},
        "scope": {"project": {"id": project_id}}}}
    resp = httpx.post(server.endpoint + "/v3/auth/tokens", json=body)
    assert resp.status_code == 201, resp.text
    return resp.headers["X-Subject-Token"]


@pytest.fixture(scope="module")
def tenants(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tenants]:
    """One server, two projects: the default one (alice; rita, readonly) and another
    (eve), each with a cluster."""
    server = new_server(tmp_path_factory.mktemp("tenants"), **FAST)
    try:
        server.start()
        with server.client() as c:
            server.put_file(c, "/app.jar", b"PK\x05\x06" + bytes(18))
        server.cli("user", "create", "--project", server.project_id, "--name", "rita",
                   "--role", "readonly", "--password", "rita-pw")
        other = json.loads(server.cli("project", "create", "other", "--json"))
        server.cli("user", "create", "--project", other["project_id"], "--name", "eve",
                   "--password", "eve-pw")
        yield Tenants(server, keystone_token(server, "rita", "rita-pw", server.project_id),
                      keystone_token(server, "eve", "eve-pw", other["project_id"]),
                      other["project_id"], other["cluster_id"])
    finally:
        stop_server(server)


def new_job(server: Server) -> str:
    with server.client() as c:
        return server.submit(c, {"job_type": "SparkSubmit", "job_name": "victim",
                                 "arguments": ["hdfs:///app.py", "sleep=30"]})


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # with {p}, {c} and {job}
    ok: int
    changes: bool
    body: Any = None
    query: tuple[tuple[str, str], ...] = ()


V2 = "/v2/{p}/clusters/{c}/job-executions"
SAHARA = "/v1.1/{p}/job-executions"
SPARK = {"job_type": "SparkSubmit", "job_name": "m", "arguments": ["hdfs:///app.py"]}
ROUTES = {
    "v2-submit": Route("POST", V2, 202, True, SPARK),
    "v2-list": Route("GET", V2, 202, False),
    "v2-show": Route("GET", V2 + "/{job}", 202, False),
    "v2-kill": Route("POST", V2 + "/{job}/kill", 202, True),
    "v2-batch-delete": Route("POST", V2 + "/batch-delete", 202, True,
                             {"job_id_list": ["{job}"]}),
    "v11-submit": Route("POST", "/v1.1/{p}/jobs/submit-job", 200, True,
                        {"job_type": 2, "job_name": "m", "cluster_id": "{c}",
                         "jar_path": "hdfs:///app.jar", "arguments": "x"}),
    "v11-list": Route("GET", "/v1.1/{p}/job-exes", 200, False, query=(("cluster_id", "{c}"),)),
    "v11-show": Route("GET", "/v1.1/{p}/job-exes/{job}", 200, False),
    "sahara-list": Route("GET", SAHARA, 200, False),
    "sahara-show": Route("GET", SAHARA + "/{job}", 200, False),
    "sahara-cancel": Route("GET", SAHARA + "/{job}/cancel", 200, True),
    "sahara-patch-cancel": Route("PATCH", SAHARA + "/{job}", 202, True,
                                 {"info": {"status": "cancel"}}),
    "sahara-delete": Route("DELETE", SAHARA + "/{job}", 204, True),
}
CALLERS = ("token", "aksk", "readonly", "other-project")


def fill(value: Any, names: dict[str, str]) -> Any:
    """``value`` with {p}, {c} and {job} filled in, through JSON."""
    text = json.dumps(value)
    for key, sub in names.items():
        text = text.replace("{" + key + "}", sub)
    return json.loads(text)


def call(t: Tenants, route: Route, caller: str) -> httpx.Response:
    server = t.server
    names = {"p": server.project_id, "c": server.cluster_id}
    if "{job}" in route.path or "{job}" in json.dumps(route.body):
        names["job"] = new_job(server)
    path = fill(route.path, names)
    query = [tuple(pair) for pair in fill(list(route.query), names)]
    body = None if route.body is None else json.dumps(fill(route.body, names)).encode()
    if caller == "aksk":
        url, headers = sdk_signed(server, route.method, path, query=query, body=body)
        return httpx.request(route.method, url, headers=headers, content=body)
    token = {"token": server.token, "readonly": t.readonly_token,
             "other-project": t.other_token}[caller]
    return httpx.request(route.method, server.endpoint + path, params=query, content=body,
                         headers={"X-Auth-Token": token, "Content-Type": "application/json"})


def mrs_code(resp: httpx.Response) -> str:
    """The MRS code of an error, in MRS's envelope or Sahara's."""
    body = resp.json()
    return str(body.get("mrs_code", body["error_code"]))


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("name", list(ROUTES))
def test_route_by_caller(tenants: Tenants, name: str, caller: str) -> None:
    route = ROUTES[name]
    resp = call(tenants, route, caller)
    allowed = caller in ("token", "aksk") or (caller == "readonly" and not route.changes)
    if allowed:
        assert resp.status_code == route.ok, resp.text
        return
    assert resp.status_code == 400, resp.text
    assert mrs_code(resp) == "12000052"
    reason = "readonly role" if caller == "readonly" else "not scoped to project"
    assert reason in resp.json()["error_msg"]


def _error(resp: httpx.Response, *ids: str) -> tuple[int, str, str]:
    """An error with the ids in its message blanked, to compare two errors."""
    message = resp.json()["error_msg"]
    for value in ids:
        message = message.replace(value, "<id>")
    return resp.status_code, mrs_code(resp), message


@pytest.mark.parametrize("template", [
    "/v2/{p}/clusters/{c}/job-executions",
    "/v2/{p}/clusters/{c}/job-executions/{job}",
    "/v2/{p}/clusters/{c}/job-executions/{job}/spark-ui/jobs/",
])
def test_a_foreign_cluster_reads_like_a_missing_one(tenants: Tenants, template: str) -> None:
    server, job_id = tenants.server, new_job(tenants.server)
    headers = {"X-Auth-Token": tenants.other_token}

    def get(cluster: str) -> httpx.Response:
        path = fill(template, {"p": tenants.other_project, "c": cluster, "job": job_id})
        return httpx.get(server.endpoint + path, headers=headers)

    foreign, missing = get(server.cluster_id), get("nosuchcluster")
    assert foreign.status_code in (400, 404), foreign.text
    assert _error(foreign, server.cluster_id) == _error(missing, "nosuchcluster")


@pytest.mark.parametrize("template", [
    "/v2/{p}/clusters/{c}/job-executions/{job}",
    "/v2/{p}/clusters/{c}/job-executions/{job}/kill",
    "/v2/{p}/clusters/{c}/job-executions/{job}/spark-ui/jobs/",
    "/v1.1/{p}/job-exes/{job}",
    "/v1.1/{p}/job-executions/{job}",
    "/v1.1/{p}/job-executions/{job}/cancel",
])
def test_a_foreign_job_reads_like_a_missing_one(tenants: Tenants, template: str) -> None:
    server, job_id = tenants.server, new_job(tenants.server)
    headers = {"X-Auth-Token": tenants.other_token}
    missing_id = "00000000-0000-0000-0000-000000000000"

    def send(job: str) -> httpx.Response:
        path = fill(template, {"p": tenants.other_project, "c": tenants.other_cluster,
                               "job": job})
        method = "POST" if path.endswith("/kill") else "GET"
        return httpx.request(method, server.endpoint + path, headers=headers)

    foreign, missing = send(job_id), send(missing_id)
    assert foreign.status_code in (400, 404), foreign.text
    assert _error(foreign, job_id) == _error(missing, missing_id)
    # And the job is untouched.
    with server.client() as c:
        assert server.job(c, job_id)["job_state"] in ("ACCEPTED", "RUNNING")
