"""Turning a request into an :class:`Identity`: an ``X-Auth-Token``, or an AK/SK
signature (``Authorization: SDK-HMAC-SHA256 ...``) over the request as sent."""

from __future__ import annotations

import dataclasses

from fastapi import Request

from ..domain.access import Identity
from ..identity.accounts import Accounts
from ..identity.signing import SignedRequest, is_signed
from ..telemetry import logs


def accounts(request: Request) -> Accounts:
    found: Accounts = request.app.state.accounts
    return found


async def keep_signed_body(request: Request) -> None:
    """Reads the body of a signed request on the event loop, so that :func:`who`,
    which runs in the route's worker thread, can check the signature over it."""
    if is_signed(request.headers.get("authorization")):
        request.state.signed_body = await request.body()


def source(request: Request) -> str:
    """The caller's address, that failed sign-ins are counted against (behind a proxy on
    this host, the one it names in X-Forwarded-For: uvicorn trusts it from loopback)."""
    return request.client.host if request.client else ""


def signed_request(request: Request) -> SignedRequest:
    scope = request.scope
    return SignedRequest(
        method=request.method,
        path=scope.get("raw_path", scope["path"].encode()).decode("latin-1"),
        query=scope.get("query_string", b"").decode("latin-1"),
        headers={k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]},
        # Missing if the route did not read it ahead: then the check fails, never passes.
        body=getattr(request.state, "signed_body", b""),
    )


def who(request: Request, cookie: str | None = None) -> Identity:
    """The caller; ``cookie`` names a cookie that may carry the token instead of
    ``X-Auth-Token`` (only on routes a browser opens by itself, which change nothing)."""
    authorization = request.headers.get("authorization")
    if is_signed(authorization):
        assert authorization is not None
        identity = accounts(request).signed_identity(signed_request(request), authorization,
                                                     source(request))
    else:
        token = request.headers.get("x-auth-token")
        if token is None and cookie is not None:
            token = request.cookies.get(cookie)
        identity = accounts(request).token_identity(token, source(request))
    params = request.path_params
    logs.note(project_id=identity.project_id,
              job_id=params.get("job_execution_id") or params.get("job_exe_id"))
    return dataclasses.replace(identity, request_id=getattr(request.state, "request_id", ""))
