"""The one place where errors become HTTP responses, and the request-id header."""

from __future__ import annotations

import logging
import re
import uuid

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..domain.errors import (
    ClusterNotFound,
    InvalidParameter,
    JobNotFound,
    MrsError,
    TooManyRequests,
)

log = logging.getLogger(__name__)


#: Sahara's ``error_name`` for each HTTP status it answers with.
SAHARA_NAMES = {400: "INVALID_DATA", 401: "UNAUTHORIZED", 403: "FORBIDDEN", 404: "NOT_FOUND",
                413: "REQUEST_ENTITY_TOO_LARGE", 429: "TOO_MANY_REQUESTS",
                500: "INTERNAL_SERVER_ERROR"}
SAHARA_PATH = re.compile(r"^/v1\.1/[^/]+/job-executions(/|$)")


def sahara_response(exc: MrsError) -> JSONResponse:
    """Sahara's envelope, with a missing job as 404 as Sahara's clients expect; the MRS
    code rides along so MRS clients can still tell errors apart."""
    status = 404 if isinstance(exc, JobNotFound | ClusterNotFound) else exc.status
    body = {"error_code": status, "error_name": SAHARA_NAMES.get(status, "BAD_REQUEST"),
            "error_message": exc.message, "error_msg": exc.message, "mrs_code": exc.code}
    return JSONResponse(body, status_code=status)


def keystone_response(exc: MrsError) -> JSONResponse:
    """Keystone's envelope (keystoneauth1 reads ``error.message``), with MRS's keys too."""
    titles = {401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
              413: "Request Entity Too Large", 429: "Too Many Requests",
              500: "Internal Server Error"}
    title = titles.get(exc.status, "Bad Request")
    body = {"error": {"code": exc.status, "title": title, "message": exc.message},
            "error_code": exc.code, "error_msg": exc.message}
    headers = {"WWW-Authenticate": "Keystone uri=\"/v3\""} if exc.status == 401 else None
    return JSONResponse(body, status_code=exc.status, headers=headers)


def error_response(exc: MrsError) -> JSONResponse:
    body = {"error_code": exc.code, "error_msg": exc.message}
    if isinstance(exc, ClusterNotFound):
        # Some clients look for the camelCase keys on this error.
        body |= {"errorCode": exc.code, "errorMsg": exc.message}
    return JSONResponse(body, status_code=exc.status)


def respond_for(path: str, exc: MrsError) -> JSONResponse:
    """``exc`` in the envelope of the API that ``path`` belongs to."""
    if SAHARA_PATH.match(path):
        return sahara_response(exc)
    if path.startswith("/v3"):
        return keystone_response(exc)
    return error_response(exc)


def _respond(request: Request, exc: MrsError) -> JSONResponse:
    response = respond_for(request.url.path, exc)
    if isinstance(exc, TooManyRequests):
        response.headers["Retry-After"] = str(exc.retry_after_s)
    return response


async def _mrs_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, MrsError)
    return _respond(request, exc)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    err = exc.errors()[0]
    loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "path", "query")]
    field = ".".join(loc) or "body"
    problem = "is not valid JSON" if err.get("type") == "json_invalid" else str(err.get("msg"))
    return _respond(request, InvalidParameter(field, problem))


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    code = "APIGW.0101" if exc.status_code in (404, 405) else str(exc.status_code)
    body = {"error_code": code, "error_msg": str(exc.detail)}
    return JSONResponse(body, status_code=exc.status_code)


def install(app: FastAPI) -> None:
    app.add_exception_handler(MrsError, _mrs_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_middleware(RequestIdMiddleware)


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
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
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
