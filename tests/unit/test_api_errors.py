"""The error mapping and request ids, on a bare app with the project's handlers installed."""

from __future__ import annotations

import asyncio

import httpx
from fastapi import FastAPI

from mrsjobs.api import errors
from mrsjobs.domain.errors import ClusterNotFound, JobNotFound


def make_app() -> FastAPI:
    app = FastAPI()
    errors.install(app)

    @app.get("/missing-job")
    def missing_job() -> None:
        raise JobNotFound()

    @app.get("/missing-cluster")
    def missing_cluster() -> None:
        raise ClusterNotFound()

    @app.get("/bug")
    def bug() -> None:
        raise RuntimeError("secret internals")

    @app.get("/typed/{n}")
    def typed(n: int) -> dict[str, int]:
        return {"n": n}

    return app


def get(app: FastAPI, *paths: str) -> list[httpx.Response]:
    async def fetch() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return [await client.get(path) for path in paths]

    return asyncio.run(fetch())


def test_domain_errors_become_mrs_envelopes() -> None:
    resp, cluster = get(make_app(), "/missing-job", "/missing-cluster")
    assert resp.status_code == 400
    assert resp.json() == {"error_code": "0176", "error_msg": "The job does not exist."}
    assert len(resp.headers["x-request-id"]) == 32
    body = cluster.json()
    assert body["error_code"] == body["errorCode"] == "12000003"


def test_unexpected_errors_are_500_without_internals() -> None:
    (resp,) = get(make_app(), "/bug")
    assert resp.status_code == 500
    assert resp.json() == {"error_code": "12000004", "error_msg": "Internal server error."}
    assert resp.headers["x-request-id"]


def test_request_validation_names_the_field() -> None:
    (resp,) = get(make_app(), "/typed/abc")
    assert resp.status_code == 400
    assert resp.json()["error_code"] == "12000002"
    assert resp.json()["error_msg"].startswith("The parameter is invalid: n:")


def test_unknown_routes_and_request_ids_differ() -> None:
    first, second = get(make_app(), "/nope", "/nope")
    assert first.status_code == 404 and first.json()["error_code"] == "APIGW.0101"
    assert first.headers["x-request-id"] != second.headers["x-request-id"]
