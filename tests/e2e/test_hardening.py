"""Never a 500: what an attacker sends gets a 4xx in the envelope of the API it was sent
to, leaves no job behind, and the service answers as before. Plus the store-level
Sahara paging over columns that may be NULL, on both backends."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from mrsjobs.domain.jobs import JobResult, JobSpec, JobState, JobType, Outcome
from mrsjobs.store import Store
from tests.support.clients import assert_error
from tests.support.server import FAST, Server

APP = "hdfs:///app.py"
BAD = "12000002"
DEEP = "[" * 1000 + "]" * 1000


def v2_submit(arguments: list[str] | str, **extra: Any) -> dict[str, Any]:
    return {"job_name": "hard", "job_type": "SparkSubmit", "arguments": arguments, **extra}


def v11_submit(server: Server, **extra: Any) -> dict[str, Any]:
    return {"job_type": 2, "job_name": "hard", "cluster_id": server.cluster_id,
            "jar_path": APP, **extra}


def total(server: Server, c: httpx.Client) -> int:
    """The number of jobs, from a job list that must answer as it always does."""
    resp = c.get(server.jobs_path)
    assert resp.status_code == 202, resp.text
    count: int = resp.json()["total_record"]
    return count


class Service:
    """The server under attack: after every bad request, the job list still answers 202
    with the jobs it had (no job, half-written or whole, was left behind)."""

    def __init__(self, server: Server, client: httpx.Client) -> None:
        self.server, self.client = server, client
        self.jobs = total(server, client)

    def after(self, resp: httpx.Response) -> httpx.Response:
        assert total(self.server, self.client) == self.jobs, resp.text
        return resp

    def submitted(self, body: dict[str, Any]) -> str:
        job_id = self.server.submit(self.client, body)
        self.jobs += 1
        return job_id


def assert_sahara_error(resp: httpx.Response, status: int, *words: str) -> None:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["error_code"] == status, body
    assert body["error_name"] == ("INVALID_DATA" if status == 400 else
                                  "REQUEST_ENTITY_TOO_LARGE"), body
    for word in words:
        assert word in body["error_message"], body
    assert resp.headers["x-request-id"]


def assert_keystone_error(resp: httpx.Response, status: int, *words: str) -> None:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["error"]["code"] == status, body
    for word in words:
        assert word in body["error"]["message"], body


@pytest.fixture
def client(fast_server: Server) -> Iterator[httpx.Client]:
    with fast_server.client() as c:
        yield c


@pytest.fixture
def service(fast_server: Server, client: httpx.Client) -> Service:
    return Service(fast_server, client)


# -- 1. nesting ---------------------------------------------------------------------------


def test_deep_json_is_a_400_on_every_body_route(fast_server: Server, client: httpx.Client,
                                                service: Service) -> None:
    s, c, after = fast_server, client, service.after
    p = s.project_id
    job_id = service.submitted(v2_submit([APP]))
    for path in (s.jobs_path, s.jobs_path + "/batch-delete", f"/v1.1/{p}/jobs/submit-job"):
        assert_error(after(c.post(path, content=DEEP)), 400, BAD, "body",
                     "nested deeper than 64")
    # The same in an object, and just over the limit.
    nested: Any = "x"
    for _ in range(65):
        nested = {"a": nested}
    assert_error(after(c.post(s.jobs_path, json=v2_submit([APP], properties=nested))), 400,
                 BAD, "nested deeper than 64")
    assert_sahara_error(after(c.patch(f"/v1.1/{p}/job-executions/{job_id}", content=DEEP)),
                        400, "body", "nested deeper than 64")
    assert_keystone_error(after(httpx.post(s.endpoint + "/v3/auth/tokens", content=DEEP)),
                          400, "body", "nested deeper than 64")
    # 64 levels are still JSON that the routes judge on its merits.
    ok: Any = []
    for _ in range(63):
        ok = [ok]
    assert_error(after(c.post(s.jobs_path, json=ok)), 400, BAD, "body",
                 "must be a JSON object")


# -- 2. NUL and unpaired surrogates -------------------------------------------------------


def test_nul_and_lone_surrogates_are_a_400_naming_the_field(
        fast_server: Server, client: httpx.Client, service: Service) -> None:
    s, c, after = fast_server, client, service.after
    p = s.project_id
    job_id = service.submitted(v2_submit([APP]))
    for bad in ("\\ud800", "x\\udfffy", "\\u0000", "a\\u0000b"):
        submits = {
            "arguments[1]": f'{{"job_name": "hard", "job_type": "SparkSubmit", '
                            f'"arguments": ["{APP}", "{bad}"]}}',
            "properties.spark.app.name": f'{{"job_name": "hard", "job_type": "SparkSubmit",'
                                         f' "arguments": ["{APP}"], '
                                         f'"properties": {{"spark.app.name": "{bad}"}}}}',
            "job_name": f'{{"job_name": "h{bad}", "job_type": "SparkSubmit", '
                        f'"arguments": ["{APP}"]}}',
        }
        for field, body in submits.items():
            assert_error(after(c.post(s.jobs_path, content=body)), 400, BAD, field, "NUL")
        assert_error(after(c.post(s.jobs_path + "/batch-delete",
                                  content=f'{{"job_id_list": ["{bad}"]}}')),
                     400, BAD, "job_id_list[0]", "surrogates")
        v11 = json.dumps(v11_submit(s, arguments="PLACE")).replace("PLACE", f"10 {bad}")
        assert_error(after(c.post(f"/v1.1/{p}/jobs/submit-job", content=v11)), 400, BAD,
                     "arguments", "NUL")
        assert_sahara_error(after(c.patch(f"/v1.1/{p}/job-executions/{job_id}",
                                          content=f'{{"info": {{"status": "{bad}"}}}}')),
                            400, "info.status", "NUL")
        token = ('{"auth": {"identity": {"methods": ["password"], "password": {"user": '
                 f'{{"name": "alice", "password": "{bad}"}}}}}}}}}}')
        assert_keystone_error(after(httpx.post(s.endpoint + "/v3/auth/tokens", content=token)),
                              400, "auth.identity.password.user.password", "NUL")
    # A key, and UTF-8 that encodes a surrogate (raw bytes, no escape).
    assert_error(after(c.post(s.jobs_path, content=b'{"job_name": "h", "\\ud800": 1}')), 400,
                 BAD, "NUL")
    raw = b'{"job_name": "h", "job_type": "SparkSubmit", "arguments": ["\xed\xa0\x80"]}'
    assert_error(after(c.post(s.jobs_path, content=raw)), 400, BAD, "arguments[0]",
                 "surrogates")
    # Query parameters and path ids, in the envelope of their API.
    assert_error(after(c.get(s.jobs_path, params={"job_name": "a\x00"})), 400, BAD,
                 "job_name", "NUL")
    assert_sahara_error(after(c.get(f"/v1.1/{p}/job-executions", params={"marker": "a\x00"})),
                        400, "marker", "NUL")
    assert_error(after(c.get(f"/v1.1/{p}/job-exes", params={"cluster_id": s.cluster_id,
                                                            "job_name": "\x00"})),
                 400, BAD, "job_name", "NUL")
    assert_error(after(c.get(f"{s.jobs_path}/a%00b")), 400, BAD, "job_execution_id")
    assert_sahara_error(after(c.get(f"/v1.1/{p}/job-executions/a%00b")), 400,
                        "job_execution_id")
    # A surrogate pair (as json= escapes it) is just a character.
    assert service.submitted(v2_submit([APP, "\U0001f600"]))


# -- 3. body size -------------------------------------------------------------------------


def test_a_body_over_the_limit_is_a_413_before_reading_and_authenticating(
        server_factory: Callable[..., Server]) -> None:
    limit = 4096
    s = server_factory(**FAST, max_body_bytes=str(limit))
    p = s.project_id
    big = b" " * (limit + 1)

    def chunked() -> Iterator[bytes]:
        for _ in range(4):
            yield b" " * (limit // 2)

    with s.client() as c:
        service = Service(s, c)
        after = service.after
        for path in (s.jobs_path, s.jobs_path + "/batch-delete", f"/v1.1/{p}/jobs/submit-job"):
            for content in (big, chunked()):
                assert_error(after(c.post(path, content=content)), 413, "APIGW.0201",
                             str(limit))
        for content in (big, chunked()):
            assert_sahara_error(after(c.patch(f"/v1.1/{p}/job-executions/x", content=content)),
                                413, str(limit))
        # Refused before authentication: without credentials, still 413, not 401.
        assert_error(after(httpx.post(s.endpoint + s.jobs_path, content=big)), 413,
                     "APIGW.0201")
        assert_keystone_error(after(httpx.post(s.endpoint + "/v3/auth/tokens", content=big)),
                              413, str(limit))
        # At the limit it is a body like any other.
        fits = json.dumps(v2_submit([APP, "x" * (limit - 200)]))
        assert len(fits) <= limit
        service.submitted(json.loads(fits))
        # File uploads have their own, bigger limit.
        upload = after(c.put(f"/v2/{p}/clusters/{s.cluster_id}/files",
                             params={"path": "/big.bin"}, content=b"x" * (limit * 4)))
        assert upload.status_code == 201, upload.text


def test_the_default_body_limit_is_one_mebibyte(fast_server: Server, client: httpx.Client,
                                                service: Service) -> None:
    s, c = fast_server, client
    assert_error(service.after(c.post(s.jobs_path, content=b" " * ((1 << 20) + 1))), 413,
                 "APIGW.0201", str(1 << 20))


# -- 4. argument counts -------------------------------------------------------------------


def test_argument_and_property_counts_are_bounded(fast_server: Server, client: httpx.Client,
                                                  service: Service) -> None:
    s, c, after = fast_server, client, service.after
    p = s.project_id
    assert_error(after(c.post(s.jobs_path, json=v2_submit([APP, *[""] * 10_000]))), 400, BAD,
                 "arguments", "10000")
    assert_error(after(c.post(s.jobs_path, json=v2_submit([APP], properties={
        f"k{i}": "" for i in range(1001)}))), 400, BAD, "properties")
    assert_error(after(c.post(f"/v1.1/{p}/jobs/submit-job",
                              json=v11_submit(s, arguments="'' " * 10_001))), 400, BAD,
                 "arguments", "10000")
    # Right at the limit the job is taken.
    service.submitted(v2_submit([APP, *["a"] * 9_999]))


# -- 5, 6, 7. v1.1 and Sahara -------------------------------------------------------------


def test_sahara_patch_of_a_non_object_info_and_bad_limits_are_sahara_400s(
        fast_server: Server, client: httpx.Client, service: Service) -> None:
    s, c, after = fast_server, client, service.after
    p = s.project_id
    job_id = service.submitted(v2_submit([APP, "sleep=30"]))
    s.wait_state(c, job_id, "RUNNING")
    for info in (0, "cancel", [], None, True, 1.5):
        resp = after(c.patch(f"/v1.1/{p}/job-executions/{job_id}", json={"info": info}))
        assert_sahara_error(resp, 400, "info")
    for body in (0, [], "x"):
        assert_sahara_error(after(c.patch(f"/v1.1/{p}/job-executions/{job_id}", json=body)),
                            400, "body")
    assert s.job(c, job_id)["job_state"] == "RUNNING"
    # The reference's largest limit is 1073741822.
    for limit in ("1073741823", "99999999999999999999", "0", "-1", "x", "1.5", "1e3"):
        resp = after(c.get(f"/v1.1/{p}/job-executions", params={"limit": limit}))
        assert_sahara_error(resp, 400, "limit")
    resp = after(c.get(f"/v1.1/{p}/job-executions", params={"limit": "1073741822"}))
    assert resp.status_code == 200, resp.text
    assert [j["id"] for j in resp.json()["job_executions"]] == [job_id]
    assert c.post(f"{s.jobs_path}/{job_id}/kill").status_code == 202


def test_v11_job_type_is_a_strict_integer(fast_server: Server, client: httpx.Client,
                                          service: Service) -> None:
    s, c = fast_server, client
    for job_type in (True, "2", 2.0, "two", None, [2]):
        resp = service.after(c.post(f"/v1.1/{s.project_id}/jobs/submit-job",
                                    json=v11_submit(s, job_type=job_type)))
        assert_error(resp, 400, BAD, "job_type")
    resp = c.post(f"/v1.1/{s.project_id}/jobs/submit-job", json=v11_submit(s))
    assert resp.status_code == 200, resp.text
    assert total(s, c) == 1


# -- 9. secret properties -----------------------------------------------------------------

SECRETS = {"spark.ssl.keyStorePassword": "hunter2-pw", "fs.s3a.SECRET.key": "s3cr3t-value",
           "my.Token": "tok-value", "spark.ssl.key": "key-value",
           "spark.hadoop.client.secret": "client-secret-value"}


def test_secret_properties_are_masked_in_every_view(fast_server: Server,
                                                    client: httpx.Client) -> None:
    s, c = fast_server, client
    p = s.project_id
    props = {**SECRETS, "spark.app.name": "visible-name", "spark.keys": "visible-keys"}
    job_id = s.submit(c, v2_submit([APP], properties=props))
    s.wait_state(c, job_id, "FINISHED", "FAILED")
    views = [
        c.get(f"{s.jobs_path}/{job_id}"),
        c.get(s.jobs_path),
        c.get(f"/v1.1/{p}/job-exes/{job_id}"),
        c.get(f"/v1.1/{p}/job-exes", params={"cluster_id": s.cluster_id}),
        c.get(f"/v1.1/{p}/job-executions/{job_id}"),
        c.get(f"/v1.1/{p}/job-executions"),
    ]
    for resp in views:
        assert resp.status_code in (200, 202), resp.text
        for secret in SECRETS.values():
            assert secret not in resp.text, (resp.url, resp.text)
    for resp in (views[0], views[1]):
        shown = resp.text
        for name in SECRETS:
            assert f"{name}=******" in shown, shown
        assert "spark.app.name=visible-name" in shown and "spark.keys=visible-keys" in shown
    for resp in (views[4], views[5]):
        sahara = resp.json()
        job = sahara.get("job_execution") or sahara["job_executions"][0]
        assert job["job_configs"]["configs"] == {
            **dict.fromkeys(SECRETS, "******"), "spark.app.name": "visible-name",
            "spark.keys": "visible-keys"}
    # Stored as given: the job needs them.
    store = Store(f"sqlite:///{s.data_dir / 'mrsjobs.db'}")
    try:
        assert store.job(job_id).properties == props
    finally:
        store.close()


# -- 8. Sahara paging over columns that may be NULL (store level, both backends) ----------


def sahara_pages(store: Store, sort: str, descending: bool, limit: int) -> list[list[str]]:
    pages: list[list[str]] = []
    marker = None
    while True:
        page, _, marker = store.page_after("p1", limit=limit, marker=marker, sort=sort,
                                           descending=descending)
        pages.append([j.id for j in page])
        if marker is None:
            return pages
        assert len(pages) < 50, "paging does not end"


@pytest.fixture
def paged_store(db_url: str) -> Iterator[tuple[Store, dict[str, dict[str, int | None]]]]:
    """Jobs of one project queued, running and finished, with equal times among them:
    each job id -> its started_ms and finished_ms."""
    store = Store(db_url)
    store.migrate()
    store.ensure_project("p1", "one")
    cluster = store.add_cluster("p1", "a", (), "c1")
    spec = JobSpec("page", JobType.SPARK_SUBMIT, ("x",))
    ids = [store.insert_job(cluster, spec, "u", "q").id for _ in range(9)]
    times: dict[str, dict[str, int | None]] = {
        i: {"started_ms": None, "finished_ms": None} for i in ids}
    claimed = sorted((j.id for j in store.claim("c1", 6, "me")), key=ids.index)
    assert claimed == ids[:6]
    for n, job_id in enumerate(claimed[:5]):
        started = 1000 + 10 * (n // 2)  # pairs with equal start times
        store.mark_started(job_id, started, "l")
        times[job_id]["started_ms"] = started
    for job_id in claimed[:3]:
        store.finish(job_id, Outcome(JobState.FINISHED, JobResult.SUCCEEDED, None),
                     finished_ms=5000)
        times[job_id]["finished_ms"] = 5000
    yield store, times
    store.close()


@pytest.mark.parametrize("sort", ["started_ms", "finished_ms"])
def test_sahara_paging_by_a_time_returns_every_job_once(
        paged_store: tuple[Store, dict[str, dict[str, int | None]]], sort: str) -> None:
    store, times = paged_store
    ids = list(times)  # in insertion (seq) order
    ascending = sorted(ids, key=lambda i: (times[i][sort] is None, times[i][sort] or 0,
                                           ids.index(i)))
    for descending in (False, True):
        expected = ascending[::-1] if descending else ascending
        for limit in (1, 2, 3, 4, 100):
            pages = sahara_pages(store, sort, descending, limit)
            assert [i for page in pages for i in page] == expected, (descending, limit)
            assert all(len(page) == limit for page in pages[:-1])
            # Each page's prev marker leads back to the page before it.
            for at in range(1, len(pages)):
                page, prev, _ = store.page_after("p1", limit=limit, marker=pages[at - 1][-1],
                                                 sort=sort, descending=descending)
                assert [j.id for j in page] == pages[at]
                assert prev is None if at == 1 else prev == pages[at - 2][-1]
                back, _, _ = store.page_after("p1", limit=limit, marker=prev, sort=sort,
                                              descending=descending)
                assert [j.id for j in back] == pages[at - 1]
    # The largest Sahara limit is a page like any other.
    page, prev, next_ = store.page_after("p1", limit=1_073_741_822, marker=None, sort=sort,
                                         descending=False)
    assert ([j.id for j in page], prev, next_) == (ascending, None, None)
