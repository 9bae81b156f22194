"""A running Spark job's own UI, proxied under the job, an extension of the v2 API.

``GET|HEAD .../job-executions/{id}/spark-ui/{path}`` answers what the driver's UI
answers for ``/{path}`` (the job's ``tracking_url`` is this route's root): its
status, body and content headers, nothing else of it. The UI was started with this
route as its ``spark.ui.proxyBase``, so its links stay under it; only a ``Location``
that names the UI's own address is rewritten to a path under the route (some of the
UI's redirects, such as its root's, ignore the proxy base). Only GET and HEAD: nothing
that changes the application is reachable (and the UI's kill is off).

A browser opens these pages without an ``X-Auth-Token``: here alone the token may
also come in the :data:`COOKIE`. The service sets it, on an answer to a request that
sent the token as ``X-Auth-Token`` (the console asks so before it opens the tab), for
this job's UI only: its path is the job's ``spark-ui/``, ``HttpOnly`` (the pages are
the job's, and their scripts must not read it) and ``SameSite=Strict``. No other route
reads it. Every refusal of a job the caller may not see is one 404.
"""

from __future__ import annotations

import asyncio
import re

import httpx
from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask

from ..domain.errors import SparkUiUnavailable
from ..service.spark_ui import SparkUis, UiTarget
from .deps import ClusterId, JobId, ProjectId, who
from .errors import ApiRoute
from .v2 import JOBS

ROUTE = JOBS + "/{job_execution_id}/spark-ui/{path:path}"
#: The route's path as the OpenAPI document names it.
SPARK_UI = ROUTE.replace(":path}", "}")
#: The cookie that may carry the caller's token to a job's UI (set by these routes).
COOKIE = "mrsjobs_token"
#: Request headers passed on to the UI; everything else (credentials, cookies) stays.
FORWARDED = ("accept", "accept-language", "if-none-match", "if-modified-since")
#: Response headers passed back; hop-by-hop ones and anything else of the UI's stay.
RETURNED = ("content-type", "content-length", "content-encoding", "content-disposition",
            "cache-control", "etag", "last-modified", "expires")
#: Added to every page: it is the job's, served on the service's origin.
PAGE_HEADERS = {"X-Content-Type-Options": "nosniff", "X-Frame-Options": "SAMEORIGIN",
                "Referrer-Policy": "same-origin"}
TIMEOUT = httpx.Timeout(30.0, connect=5.0)
_HOST = re.compile(r"[A-Za-z0-9.:\[\]-]{1,255}")

router = APIRouter(route_class=ApiRoute)


def uis(request: Request) -> SparkUis:
    found: SparkUis = request.app.state.spark_uis
    return found


def upstream_target(raw_path: bytes, query: bytes) -> bytes:
    """The UI's own path (and query) for the route's ``raw_path``: what follows
    ``/spark-ui``, kept as the caller encoded it."""
    rest = raw_path.split(b"/spark-ui", 1)[1] or b"/"
    return rest + (b"?" + query if query else b"")


def returned_headers(upstream: httpx.Headers, origin: str, base: str) -> dict[str, str]:
    """The headers of the UI's answer that the caller gets: a ``Location`` on the UI's
    own address becomes a path under ``base`` (the route's root, the UI's proxy base),
    one elsewhere the UI's root."""
    headers = {name: upstream[name] for name in RETURNED if name in upstream}
    location = upstream.get("location")
    if location is not None:
        if location.startswith(origin + "/") or location == origin:
            location = location.removeprefix(origin) or "/"
        if "://" in location or location.startswith("//"):
            location = base + "/"  # elsewhere: the service sends nobody off its origin
        elif location.startswith("/") and not location.startswith(base + "/"):
            location = base + location
        headers["location"] = location
    return headers | PAGE_HEADERS


def page_policy(host: str, root: str) -> str:
    """A Content-Security-Policy that keeps a UI page (the job's own: its driver serves
    it) to its UI: it loads and asks nothing beyond ``root`` on ``host`` (not another
    job's UI, not the API, not another site). Spark's pages have inline scripts."""
    src = f"{host}{root}" if _HOST.fullmatch(host) else "'none'"
    return (f"default-src {src}; script-src {src} 'unsafe-inline'; "
            f"style-src {src} 'unsafe-inline'; img-src {src} data:; font-src {src} data:; "
            f"connect-src {src}; form-action {src}; frame-ancestors 'self'; "
            "base-uri 'none'; object-src 'none'")


@router.api_route(ROUTE, methods=["GET", "HEAD"])
async def spark_ui(request: Request, project_id: ProjectId, cluster_id: ClusterId,
                   job_execution_id: JobId, path: str) -> Response:
    def find() -> UiTarget:
        return uis(request).target(who(request, COOKIE), project_id, cluster_id,
                                   job_execution_id)

    target = await asyncio.to_thread(find)
    scope = request.scope
    raw = upstream_target(scope.get("raw_path") or scope["path"].encode(),
                          scope.get("query_string", b""))
    headers = {name: request.headers[name] for name in FORWARDED if name in request.headers}
    headers["accept-encoding"] = request.headers.get("accept-encoding", "identity")
    client = httpx.AsyncClient(
        transport=httpx.AsyncHTTPTransport(uds=target.uds) if target.uds else None,
        timeout=TIMEOUT, follow_redirects=False)
    url = httpx.URL(target.origin).copy_with(raw_path=raw)
    try:
        answer = await client.send(client.build_request(request.method, url, headers=headers),
                                   stream=True)
    except httpx.HTTPError:
        await client.aclose()
        raise SparkUiUnavailable("The operation is not supported: the job's Spark UI does "
                                 "not answer (its application may have stopped).") from None
    base = f"{JOBS.format(project_id=project_id, cluster_id=cluster_id)}/{job_execution_id}"
    out = returned_headers(answer.headers, target.origin, base + "/spark-ui")
    out["Content-Security-Policy"] = page_policy(request.headers.get("host", ""),
                                                 f"{base}/spark-ui/")

    async def close() -> None:
        await answer.aclose()
        await client.aclose()

    response: Response
    if request.method == "HEAD":
        await close()
        response = Response(status_code=answer.status_code, headers=out)
    else:
        response = StreamingResponse(answer.aiter_raw(), status_code=answer.status_code,
                                     headers=out, background=BackgroundTask(close))
    token = request.headers.get("x-auth-token")
    if token:
        response.set_cookie(COOKIE, token, path=f"{base}/spark-ui/",
                            httponly=True, samesite="strict",
                            secure=request.url.scheme == "https")
    return response
