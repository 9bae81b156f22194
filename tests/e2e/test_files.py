"""The file-area routes against a real server: put, list, delete, who may do what,
bounded uploads, and the ``mrsjobs files`` commands."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.clients import assert_error, sdk_signed
from tests.support.server import FAST, Server, mrsjobs, new_server, stop_server

MAX_UPLOAD = 4096


@dataclass
class Tenants:
    server: Server
    readonly_token: str
    other_token: str
    other_project: str
    other_cluster: str

    def files(self, project: str | None = None, cluster: str | None = None) -> str:
        s = self.server
        return f"/v2/{project or s.project_id}/clusters/{cluster or s.cluster_id}/files"

    @property
    def area(self) -> Path:
        return self.server.data_dir / "clusters" / self.server.cluster_id / "files"


@pytest.fixture(scope="module")
def tenants(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tenants]:
    """One server (uploads up to 4 KiB), two projects: the default one (alice; rita,
    readonly) and another (eve), each with a cluster."""
    server = new_server(tmp_path_factory.mktemp("files"), **FAST,
                        max_upload_bytes=str(MAX_UPLOAD))
    try:
        server.start()
        server.cli("user", "create", "--project", server.project_id, "--name", "rita",
                   "--role", "readonly", "--password", "rita-pw")
        other = json.loads(server.cli("project", "create", "other", "--json"))
        yield Tenants(
            server,
            server.cli("token", "create", "--project", server.project_id, "--user", "rita"),
            server.cli("token", "create", "--project", other["project_id"], "--user", "eve"),
            other["project_id"], other["cluster_id"])
    finally:
        stop_server(server)


def put(c: httpx.Client, route: str, path: str, content: bytes) -> httpx.Response:
    return c.put(route, params={"path": path}, content=content)


def listing(c: httpx.Client, route: str, path: str, **params: str) -> dict[str, dict[str, object]]:
    resp = c.get(route, params={"path": path, **params})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["total_count"] == len(body["files"])
    return {f["path_suffix"]: f for f in body["files"]}


def test_put_list_delete(tenants: Tenants) -> None:
    route = tenants.files()
    with tenants.server.client() as c:
        resp = put(c, route, "/put/in/data.csv", b"a,b\n1,2\n")
        assert resp.status_code == 201, resp.text
        stored = resp.json()
        assert (stored["path_suffix"], stored["type"], stored["length"]) == (
            "data.csv", "FILE", 8)
        assert (tenants.area / "put" / "in" / "data.csv").read_bytes() == b"a,b\n1,2\n"

        (found,) = listing(c, route, "/put/in").values()
        assert found == stored | {"access_time": found["access_time"]}
        assert set(found) == {"path_suffix", "owner", "group", "permission", "replication",
                              "block_size", "length", "type", "children_num", "access_time",
                              "modification_time"}
        assert listing(c, route, "hdfs:///put")["in"]["type"] == "DIRECTORY"

        assert c.delete(route, params={"path": "/put/in/data.csv"}).status_code == 204
        assert listing(c, route, "/put/in") == {}
        assert c.delete(route, params={"path": "/put"}).status_code == 204
        assert "put" not in listing(c, route, "/")
        assert_error(c.delete(route, params={"path": "/put"}), 404, "12000057")


def test_a_missing_directory_is_404(tenants: Tenants) -> None:
    with tenants.server.client() as c:
        assert_error(c.get(tenants.files(), params={"path": "/no/such/dir"}), 404,
                     "12000057", "Failed to obtain the file list")


@pytest.mark.parametrize("field, value", [
    ("limit", "1001"), ("limit", "0"), ("offset", "0"), ("offset", "x"),
    ("sort_key", "name"), ("order", "up"), ("path", "/a/../b"), ("path", "relative"),
])
def test_bad_query_values_name_the_field(tenants: Tenants, field: str, value: str) -> None:
    params = {"path": "/"} | {field: value}
    with tenants.server.client() as c:
        assert_error(c.get(tenants.files(), params=params), 400, "12000002", field)


def test_list_pages_and_sorts(tenants: Tenants) -> None:
    route = tenants.files()
    with tenants.server.client() as c:
        for name, size in (("b", 3), ("a", 1), ("c", 2)):
            assert put(c, route, f"/pages/{name}", b"x" * size).status_code == 201
        assert list(listing(c, route, "/pages", sort_key="length", order="desc")) == [
            "b", "c", "a"]
        resp = c.get(route, params={"path": "/pages", "limit": "2", "offset": "2"})
        assert resp.json()["total_count"] == 3
        assert [f["path_suffix"] for f in resp.json()["files"]] == ["c"]


def test_put_refuses_a_directory_and_a_planted_link(tenants: Tenants, tmp_path: Path) -> None:
    route = tenants.files()
    outside = tmp_path / "secret.txt"
    outside.write_bytes(b"secret")
    with tenants.server.client() as c:
        assert put(c, route, "/links/d/f", b"x").status_code == 201
        assert_error(put(c, route, "/links/d", b"x"), 400, "12000002", "is a directory")
        (tenants.area / "links" / "out").symlink_to(tmp_path)
        assert_error(put(c, route, "/links/out/secret.txt", b"pwned"), 400, "12000002",
                     "symbolic link")
        assert_error(c.get(route, params={"path": "/links/out"}), 400, "12000002",
                     "symbolic link")
        assert c.delete(route, params={"path": "/links"}).status_code == 204
    assert outside.read_bytes() == b"secret"


def test_readonly_lists_but_cannot_change(tenants: Tenants) -> None:
    route = tenants.files()
    with tenants.server.client() as c:
        assert put(c, route, "/ro/f", b"x").status_code == 201
    with tenants.server.client(tenants.readonly_token) as c:
        assert "f" in listing(c, route, "/ro")
        assert_error(put(c, route, "/ro/g", b"x"), 400, "12000052", "readonly role")
        assert_error(c.delete(route, params={"path": "/ro/f"}), 400, "12000052",
                     "readonly role")
    assert sorted(p.name for p in (tenants.area / "ro").iterdir()) == ["f"]


def test_another_project_cannot_reach_the_area(tenants: Tenants) -> None:
    with tenants.server.client(tenants.other_token) as c:
        route = tenants.files()
        assert_error(c.get(route, params={"path": "/"}), 400, "12000052", "not scoped")
        assert_error(put(c, route, "/eve", b"x"), 400, "12000052", "not scoped")
        assert_error(c.delete(route, params={"path": "/ro"}), 400, "12000052", "not scoped")
        # Through its own project: the cluster reads exactly like a missing one.
        foreign = c.get(tenants.files(tenants.other_project), params={"path": "/"})
        missing = c.get(tenants.files(tenants.other_project, "nosuchcluster"),
                        params={"path": "/"})
        assert_error(foreign, 400, "12000003")
        assert foreign.json() == missing.json()
        assert_error(put(c, tenants.files(tenants.other_project), "/eve", b"x"), 400,
                     "12000003")
        # Its own cluster's area is its own.
        own = tenants.files(tenants.other_project, tenants.other_cluster)
        assert put(c, own, "/eve", b"x").status_code == 201
        assert list(listing(c, own, "/")) == ["eve"]
    assert not (tenants.area / "eve").exists()


def test_an_oversized_upload_is_413(tenants: Tenants) -> None:
    route = tenants.files()

    def chunked() -> Iterator[bytes]:  # no Content-Length: found out while streaming
        for _ in range(MAX_UPLOAD // 512 + 1):
            yield b"x" * 512

    with tenants.server.client() as c:
        assert put(c, route, "/big/exact", b"x" * MAX_UPLOAD).status_code == 201
        assert_error(put(c, route, "/big/over", b"x" * (MAX_UPLOAD + 1)), 413, "APIGW.0201")
        resp = c.put(route, params={"path": "/big/streamed"}, content=chunked())
        assert_error(resp, 413, "APIGW.0201", str(MAX_UPLOAD))
        assert list(listing(c, route, "/big")) == ["exact"]
    assert sorted(p.name for p in (tenants.area / "big").iterdir()) == ["exact"]


def test_signed_put_and_list(tenants: Tenants) -> None:
    server, route = tenants.server, tenants.files()
    body = b"signed bytes"
    url, headers = sdk_signed(server, "PUT", route, query=[("path", "/signed.txt")], body=body)
    resp = httpx.put(url, headers=headers, content=body)
    assert resp.status_code == 201, resp.text
    url, headers = sdk_signed(server, "GET", route, query=[("path", "/")])
    resp = httpx.get(url, headers=headers)
    assert resp.status_code == 200, resp.text
    assert {f["path_suffix"]: f["length"] for f in resp.json()["files"]}["signed.txt"] == 12
    # Signed but too big: refused before the signature is even looked at.
    big = b"x" * (MAX_UPLOAD + 1)
    url, headers = sdk_signed(server, "PUT", route, query=[("path", "/big.txt")], body=big)
    assert_error(httpx.put(url, headers=headers, content=big), 413, "APIGW.0201")


def test_cli_put_ls_rm(tenants: Tenants, tmp_path: Path) -> None:
    server = tenants.server
    local = tmp_path / "input.txt"
    local.write_bytes(b"to be or not to be\n" * 100)
    api = ("--endpoint", server.endpoint, "--project", server.project_id,
           "--cluster", server.cluster_id, "--token", server.token)
    stored = json.loads(mrsjobs("files", "put", *api, str(local), "hdfs:///cli/input.txt"))
    assert (stored["path_suffix"], stored["length"]) == ("input.txt", 1900)
    listed = json.loads(mrsjobs("files", "ls", *api, "/cli"))
    assert [(f["path_suffix"], f["length"]) for f in listed["files"]] == [("input.txt", 1900)]
    assert "cli" in [f["path_suffix"] for f in json.loads(mrsjobs("files", "ls", *api))["files"]]
    assert mrsjobs("files", "rm", *api, "hdfs:///cli") == "deleted /cli"
    assert "cli" not in [f["path_suffix"] for f in
                         json.loads(mrsjobs("files", "ls", *api, "/"))["files"]]
    assert not (tenants.area / "cli").exists()
