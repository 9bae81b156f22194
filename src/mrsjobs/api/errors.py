"""The one place where errors become HTTP responses, and the request-id header.

One map turns domain exceptions into a status and a body; which envelope the body
wears is the API's that owns the route (its route class, :class:`ApiRoute`): MRS's
unless the API says otherwise.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterable, Iterator

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..domain.errors import ClusterNotFound, InvalidParameter, MrsError, TooManyRequests
from ..telemetry import logs

log = logging.getLogger(__name__)
#: One line per request answered, when the operator asks for them (MRSJOBS_LOG_REQUESTS).
requests_log = logging.getLogger("mrsjobs.requests")


def error_response(exc: MrsError) -> JSONResponse:
    """MRS's envelope: the v2 and v1.1 APIs', the files', and any request's without a route."""
    body = {"error_code": exc.code, "error_msg": exc.message}
    if isinstance(exc, ClusterNotFound):
        # Some clients look for the camelCase keys on this error.
        body |= {"errorCode": exc.code, "errorMsg": exc.message}
    return JSONResponse(body, status_code=exc.status)


class ApiRoute(APIRoute):
    """A route of an API whose errors wear an envelope of its own: subclasses say which."""

    def envelope(self, exc: MrsError) -> JSONResponse:
        return error_response(exc)


class Envelopes:
    """Which envelope a request's errors wear: its route's. What is refused before any
    route runs (see :mod:`.limits`) wears the envelope of the route that would have run."""

    def __init__(self, routers: Iterable[APIRouter] = ()) -> None:
        self.routes = tuple(route for router in routers for route in router.routes
                            if isinstance(route, ApiRoute))

    def respond(self, scope: Scope, exc: MrsError) -> JSONResponse:
        route = scope["route"] if "route" in scope else self._route_for(scope)
        response = (route.envelope(exc) if isinstance(route, ApiRoute)
                    else error_response(exc))
        if isinstance(exc, TooManyRequests):
            response.headers["Retry-After"] = str(exc.retry_after_s)
        return response

    def _route_for(self, scope: Scope) -> ApiRoute | None:
        """The route the router would pick: the first full match, else the first partial."""
        partial = None
        for route in self.routes:
            match, _ = route.matches(scope)
            if match is Match.FULL:
                return route
            if match is Match.PARTIAL and partial is None:
                partial = route
        return partial


def install(app: FastAPI, envelopes: Envelopes | None = None) -> None:
    """The exception handlers, answering in ``envelopes``, and the request-id middleware."""
    chosen = envelopes or Envelopes()

    async def mrs_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, MrsError)
        return chosen.respond(request.scope, exc)

    async def validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        err = exc.errors()[0]
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "path", "query")]
        field = ".".join(loc) or "body"
        problem = ("is not valid JSON" if err.get("type") == "json_invalid"
                   else str(err.get("msg")))
        return chosen.respond(request.scope, InvalidParameter(field, problem))

    app.add_exception_handler(MrsError, mrs_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_middleware(RequestIdMiddleware)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    code = "APIGW.0101" if exc.status_code in (404, 405) else str(exc.status_code)
    body = {"error_code": code, "error_msg": str(exc.detail)}
    headers = dict(exc.headers or {})
    if exc.status_code == 405 and (allowed := allowed_methods(request)):
        headers["Allow"] = ", ".join(allowed)
    return JSONResponse(body, status_code=exc.status_code, headers=headers)


def _leaf_routes(routes: Iterable[BaseRoute]) -> Iterator[BaseRoute]:
    for route in routes:
        # An included router (FastAPI keeps it whole, unprefixed here) holds its routes.
        inner = getattr(route, "original_router", None)
        yield from _leaf_routes(inner.routes) if inner is not None else (route,)


def allowed_methods(request: Request) -> list[str]:
    """The methods of the resource the path names: those of every route with the path
    template of the first route that matches it (the router names that route's only,
    and one resource may have a route per method)."""
    routes = list(_leaf_routes(request.app.routes))
    found = next((r for r in routes if r.matches(request.scope)[0] is not Match.NONE), None)
    template = getattr(found, "path", None)
    methods = {m for r in routes if template is not None and getattr(r, "path", None) == template
               for m in getattr(r, "methods", None) or ()}
    return sorted(methods)


class RequestIdMiddleware:
    """Adds ``X-Request-Id`` to every response, errors included (clients log it), and
    turns an unexpected exception into a 500 MRS envelope instead of a traceback."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = uuid.uuid4().hex.encode()
        # For the audit log: routes read it as request.state.request_id.
        scope.setdefault("state", {})["request_id"] = request_id.decode()
        # The log lines written for this request carry its id (and project and job).
        context = logs.begin(request_id=request_id.decode())
        began = time.perf_counter()
        started = False
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal started, status
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                message["headers"] = [*message.get("headers", []),
                                      (b"x-request-id", request_id)]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("unhandled error")
            if started:
                raise
            await error_response(MrsError())(scope, receive, send_with_id)
        finally:
            if requests_log.isEnabledFor(logging.INFO):
                requests_log.info("%s %s %d %.1f ms", scope["method"], scope["path"], status,
                                  (time.perf_counter() - began) * 1000)
            logs.end(context)
