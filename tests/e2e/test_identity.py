"""Identity end to end: Keystone v3 tokens with keystoneauth1, the real SDK with AK/SK,
expiry and revocation, refused signatures, the audit log, and secrets kept secret."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import requests
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkmrs.v2 import (
    CreateExecuteJobRequest,
    JobExecution,
    MrsClient,
    ShowJobExeListNewRequest,
)
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import Password as DiscoveringPassword
from keystoneauth1.identity import v3

from tests.support.clients import assert_error, sdk_client, sdk_signed
from tests.support.server import FAST, Server
from tests.support.waiting import wait_for

SPARK = {"job_type": "SparkSubmit", "job_name": "m", "arguments": ["hdfs:///app.py"]}
PASSWORD = "correct horse battery"


def with_user(server: Server, name: str = "bob", role: str = "member",
              password: str = PASSWORD) -> str:
    server.cli("user", "create", "--project", server.project_id, "--name", name,
               "--role", role, "--password", password)
    return name


def login(server: Server, user: str, password: str = PASSWORD, **scope: str) -> httpx.Response:
    body: dict[str, Any] = {"auth": {"identity": {"methods": ["password"], "password": {
        "user": {"name": user, "domain": {"name": "Default"}, "password": password}}}}}
    body["auth"]["scope"] = {"project": scope or {"id": server.project_id}}
    return httpx.post(server.endpoint + "/v3/auth/tokens", json=body)


def token_of(server: Server, user: str) -> str:
    resp = login(server, user)
    assert resp.status_code == 201, resp.text
    return resp.headers["X-Subject-Token"]


# -- Keystone v3 ---------------------------------------------------------------------


def test_keystoneauth1_password_session_lists_jobs(fast_server: Server) -> None:
    server = fast_server
    with_user(server)
    with server.client() as c:
        job_id = server.submit(c, SPARK)
    auth = v3.Password(auth_url=server.endpoint + "/v3", username="bob", password=PASSWORD,
                       project_id=server.project_id, user_domain_name="Default")
    with requests.Session() as http:
        sess = ks_session.Session(auth=auth, session=http)
        assert sess.get_project_id() == server.project_id
        assert sess.get_endpoint(service_type="mrs", interface="public") == server.endpoint
        listed = sess.get(server.endpoint + server.jobs_path)
        assert listed.status_code == 202
        assert [j["job_id"] for j in listed.json()["job_list"]] == [job_id]
        sahara = sess.get(f"{server.endpoint}/v1.1/{server.project_id}/job-executions")
        assert [j["id"] for j in sahara.json()["job_executions"]] == [job_id]
        # Discovery from the bare URL finds v3 too.
        found = DiscoveringPassword(auth_url=server.endpoint, username="bob",
                                    password=PASSWORD, project_name="default",
                                    user_domain_id="default", project_domain_id="default")
        assert ks_session.Session(auth=found, session=http).get_token()


def test_token_issue_shape_validate_and_revoke(fast_server: Server) -> None:
    server = fast_server
    with_user(server, "adm", role="admin")
    resp = login(server, "adm")
    assert resp.status_code == 201, resp.text
    token = resp.headers["X-Subject-Token"]
    body = resp.json()["token"]
    assert body["methods"] == ["password"]
    assert body["user"]["name"] == "adm" and body["user"]["domain"]["name"] == "Default"
    assert body["project"]["id"] == server.project_id
    assert body["roles"] == [{"id": "admin", "name": "admin"}]
    assert body["catalog"][0]["type"] == "mrs"
    assert body["catalog"][0]["endpoints"][0]["url"] == server.endpoint
    for stamp in ("issued_at", "expires_at"):
        assert datetime.strptime(body[stamp], "%Y-%m-%dT%H:%M:%S.%fZ")
    issued = datetime.strptime(body["issued_at"], "%Y-%m-%dT%H:%M:%S.%fZ")
    expires = datetime.strptime(body["expires_at"], "%Y-%m-%dT%H:%M:%S.%fZ")
    assert round((expires - issued).total_seconds()) == 86400

    other = token_of(server, with_user(server, "carl"))
    headers = {"X-Auth-Token": token, "X-Subject-Token": other}
    url = server.endpoint + "/v3/auth/tokens"
    shown = httpx.get(url, headers=headers)
    assert shown.status_code == 200 and shown.json()["token"]["user"]["name"] == "carl"
    assert httpx.head(url, headers=headers).status_code == 200
    # A member may look at its own tokens only.
    peek = httpx.get(url, headers={"X-Auth-Token": other, "X-Subject-Token": token})
    assert peek.status_code == 401
    assert httpx.delete(url, headers=headers).status_code == 204
    assert httpx.head(url, headers=headers).status_code == 401
    with server.client(other) as c:
        assert_error(c.get(server.jobs_path), 401, "12000001", "token revoked")
    with server.client(token) as c:
        assert c.get(server.jobs_path).status_code == 202


def test_keystoneauth1_token_plugin_renews_a_token_no_later(fast_server: Server) -> None:
    server = fast_server
    with_user(server)
    first = login(server, "bob")
    original, expires = first.headers["X-Subject-Token"], first.json()["token"]["expires_at"]
    auth = v3.Token(auth_url=server.endpoint + "/v3", token=original,
                    project_id=server.project_id)
    with requests.Session() as http:
        sess = ks_session.Session(auth=auth, session=http)
        renewed = sess.get_token()
        assert renewed and renewed != original
        assert sess.get(server.endpoint + server.jobs_path).status_code == 202
        body = auth.get_access(sess)
    assert body.user_id and body.username == "bob" and body.project_id == server.project_id
    assert body.role_names == ["member"]
    # The renewed token may not outlive the one it came from.
    assert body.expires.strftime("%Y-%m-%dT%H:%M:%S.%fZ") <= expires

    url = server.endpoint + "/v3/auth/tokens"
    by_token: dict[str, Any] = {"identity": {"methods": ["token"], "token": {"id": original}}}
    other = json.loads(server.cli("project", "create", "other", "--json"))["project_id"]
    foreign = httpx.post(url, json={"auth": {**by_token, "scope": {"project": {"id": other}}}})
    assert foreign.status_code == 401 and "no role on the project" in foreign.text
    assert httpx.delete(url, headers={"X-Auth-Token": original,
                                      "X-Subject-Token": original}).status_code == 204
    revoked = httpx.post(url, json={"auth": by_token})
    assert_error(revoked, 401, "12000001", "token revoked")
    assert original not in revoked.text
    nothing = httpx.post(url, json={"auth": {"identity": {"methods": ["token"]}}})
    assert nothing.status_code == 401 and "password or the token method" in nothing.text


def test_password_login_failures(fast_server: Server) -> None:
    server = fast_server
    with_user(server)
    assert httpx.get(server.endpoint + "/v3").json()["version"]["id"].startswith("v3")
    wrong = login(server, "bob", "not it")
    assert wrong.status_code == 401
    assert wrong.json()["error"]["message"].endswith("the user name or password is wrong.")
    assert login(server, "nobody").json() == {**wrong.json()}
    other = json.loads(server.cli("project", "create", "other", "--json"))["project_id"]
    # By name, a user is looked for in the scoped project only.
    assert login(server, "bob", id=other).json() == wrong.json()
    bob_id = json.loads(server.cli("user", "list", "--json"))[-1]["id"]
    by_id = {"auth": {"identity": {"methods": ["password"], "password": {
        "user": {"id": bob_id, "password": PASSWORD}}}, "scope": {"project": {"id": other}}}}
    resp = httpx.post(server.endpoint + "/v3/auth/tokens", json=by_id)
    assert "no role on the project" in resp.json()["error_msg"]
    assert "does not exist" in login(server, "bob", id="nosuchproject").json()["error_msg"]
    elsewhere = login(server, "bob")
    body = json.loads(elsewhere.request.content)
    body["auth"]["identity"]["password"]["user"]["domain"] = {"id": "other"}
    resp = httpx.post(server.endpoint + "/v3/auth/tokens", json=body)
    assert resp.status_code == 401 and "unknown domain" in resp.json()["error_msg"]
    # alice only ever got tokens from the CLI: she has no password.
    assert login(server, "alice", "").status_code in (400, 401)
    assert login(server, "alice", "x").status_code == 401
    for resp in (wrong, login(server, "bob", "x", id=other)):
        assert PASSWORD not in resp.text


def test_tokens_expire(server_factory: Callable[..., Server]) -> None:
    server = server_factory(**FAST, token_ttl_s="1")
    token = token_of(server, with_user(server))
    with server.client(token) as c:
        assert c.get(server.jobs_path).status_code == 202
        expired = wait_for(lambda: (r := c.get(server.jobs_path)).status_code == 401 and r,
                           timeout=10, interval=0.1, message="the token to expire")
    assert_error(expired, 401, "12000001", "token expired")


# -- AK/SK -----------------------------------------------------------------------------


def test_readonly_access_key_lists_but_cannot_submit(fast_server: Server) -> None:
    server = fast_server
    with_user(server, "rita", role="readonly")
    key = json.loads(server.cli("access-key", "create", "--project", server.project_id,
                                "--user", "rita", "--json"))
    client: MrsClient = sdk_client(MrsClient, server, key["access_key"], key["secret_key"])
    listed = client.show_job_exe_list_new(ShowJobExeListNewRequest(
        cluster_id=server.cluster_id))
    assert listed.total_record == 0
    with pytest.raises(ClientRequestException) as info:
        client.create_execute_job(CreateExecuteJobRequest(
            cluster_id=server.cluster_id, body=JobExecution(**SPARK)))
    assert (info.value.status_code, info.value.error_code) == (400, "12000052")


def test_refused_signatures_say_which_check_failed(fast_server: Server) -> None:
    server = fast_server
    path = server.jobs_path
    body = json.dumps(SPARK).encode()

    def send(url: str, headers: dict[str, str], content: bytes | None = body) -> httpx.Response:
        return httpx.post(url, headers=headers, content=content)

    url, headers = sdk_signed(server, "POST", path, body=body)
    assert send(url, headers).status_code == 202
    assert_error(send(url, headers, body.replace(b'"m"', b'"n"')), 401, "12000001",
                 "signature does not match")
    assert_error(send(url + "?limit=1", headers), 401, "12000001", "signature does not match")
    date = headers["X-Sdk-Date"]
    second = str((int(date[-2]) + 1) % 10)  # another second, within the window
    assert_error(send(url, {**headers, "X-Sdk-Date": date[:-2] + second + "Z"}),
                 401, "12000001")
    old = (datetime.now(UTC) - timedelta(minutes=20)).strftime("%Y%m%dT%H%M%SZ")
    url, stale = sdk_signed(server, "POST", path, body=body, date=old)
    assert_error(send(url, stale), 401, "12000001", "X-Sdk-Date is outside the allowed window")
    url, unknown = sdk_signed(server, "POST", path, body=body, access_key="NOSUCHKEY")
    assert_error(send(url, unknown), 401, "12000001", "unknown access key")
    url, wrong = sdk_signed(server, "POST", path, body=body, secret_key="x" * 40)
    assert_error(send(url, wrong), 401, "12000001", "signature does not match")
    url, foreign = sdk_signed(server, "POST", path, body=body, project_id="otherproject")
    assert_error(send(url, foreign), 401, "12000001", "X-Project-Id")
    assert_error(send(url, {**headers, "Authorization": "SDK-HMAC-SHA256 nonsense"}), 401,
                 "12000001", "Authorization header is malformed")
    # Sahara routes answer in Sahara's envelope, with the same reason.
    sahara = f"/v1.1/{server.project_id}/job-executions"
    url, signed = sdk_signed(server, "GET", sahara, secret_key="x" * 40)
    resp = httpx.get(url, headers=signed)
    assert resp.status_code == 401 and "signature does not match" in resp.json()["error_msg"]
    assert server.secret_key not in server.log.read_text()


def test_a_deleted_access_key_stops_working(fast_server: Server) -> None:
    server = fast_server
    client: MrsClient = sdk_client(MrsClient, server)
    request = ShowJobExeListNewRequest(cluster_id=server.cluster_id)
    assert client.show_job_exe_list_new(request).total_record == 0
    listed = json.loads(server.cli("access-key", "list", "--json"))
    assert [k["access_key"] for k in listed] == [server.access_key]
    assert server.secret_key not in json.dumps(listed)
    server.cli("access-key", "delete", server.access_key)

    def refused() -> bool:
        try:
            client.show_job_exe_list_new(request)
        except ClientRequestException as exc:
            return exc.status_code == 401 and "unknown access key" in exc.error_msg
        return False

    wait_for(refused, timeout=15, interval=0.2, message="the deleted key to be refused")


# -- the audit log and secrets at rest -------------------------------------------------


def test_job_changes_are_audited(fast_server: Server) -> None:
    server = fast_server
    body = json.dumps(SPARK).encode()
    url, headers = sdk_signed(server, "POST", server.jobs_path, body=body)
    submitted = httpx.post(url, headers=headers, content=body)
    job_id = submitted.json()["job_submit_result"]["job_id"]
    sahara = f"/v1.1/{server.project_id}/job-executions/{job_id}"
    with server.client() as c:
        killed = c.post(f"{server.jobs_path}/{job_id}/kill")
        cancelled = c.get(sahara + "/cancel")
        deleted = c.delete(sahara)
        assert deleted.status_code == 204
        c.get(server.jobs_path)  # reads are not audited
    events = json.loads(server.cli("audit", "list", "--json"))
    seen = [(e["action"], e["method"], e["user"], e["job_id"], e["request_id"])
            for e in events]
    assert seen == [
        ("submit", "aksk", "alice", job_id, submitted.headers["x-request-id"]),
        ("kill", "token", "alice", job_id, killed.headers["x-request-id"]),
        ("cancel", "token", "alice", job_id, cancelled.headers["x-request-id"]),
        ("delete", "token", "alice", job_id, deleted.headers["x-request-id"]),
    ]
    assert all(e["project_id"] == server.project_id for e in events)
    assert json.loads(server.cli("audit", "list", "--project", "otherproject", "--json")) == []


def test_secrets_are_stored_hashed_or_sealed(fast_server: Server) -> None:
    server = fast_server
    with_user(server)
    token = token_of(server, "bob")
    server.stop()
    stored = b"".join(p.read_bytes() for p in server.data_dir.glob("mrsjobs.db*"))
    for secret in (server.secret_key, PASSWORD, token, server.token):
        assert secret.encode() not in stored
    assert server.access_key.encode() in stored
    key_file = server.data_dir / "secret.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    users = json.loads(server.cli("user", "list", "--json"))
    assert {(u["name"], u["role"], u["password"]) for u in users} == {
        ("alice", "member", False), ("bob", "member", True)}


def test_project_delete_refuses_a_project_with_jobs(fast_server: Server) -> None:
    server = fast_server
    other = json.loads(server.cli("project", "create", "spare", "--json"))["project_id"]
    projects = {p["id"] for p in json.loads(server.cli("project", "list", "--json"))}
    assert projects == {server.project_id, other}
    server.cli("project", "delete", other)
    with server.client() as c:
        server.submit(c, SPARK)
    with pytest.raises(Exception, match="exit status 1"):
        server.cli("project", "delete", server.project_id)
