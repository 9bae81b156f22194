"""The Keystone v3 API a client needs to get a token: version discovery, and issue
(password or token method), validate and revoke under ``/v3/auth/tokens``. Its errors
wear Keystone's envelope (keystoneauth1 reads it), with MRS's keys too."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, SecretStr

from ..domain.errors import AuthenticationFailed, MrsError
from ..identity.accounts import IssuedToken
from ..store.identity import Project, User
from .auth import accounts, source, who
from .deps import JsonBody
from .errors import ApiRoute
from .wire import parse_model

TOKENS = "/v3/auth/tokens"
#: Users belong to projects here, not to domains: everyone is in the one domain.
DOMAIN = {"id": "default", "name": "Default"}
MEDIA_TYPES = [{"base": "application/json",
                "type": "application/vnd.openstack.identity-v3+json"}]

TITLES = {401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
          413: "Request Entity Too Large", 429: "Too Many Requests",
          500: "Internal Server Error"}


def keystone_response(exc: MrsError) -> JSONResponse:
    """Keystone's envelope (keystoneauth1 reads ``error.message``), with MRS's keys too."""
    title = TITLES.get(exc.status, "Bad Request")
    body = {"error": {"code": exc.status, "title": title, "message": exc.message},
            "error_code": exc.code, "error_msg": exc.message}
    headers = {"WWW-Authenticate": "Keystone uri=\"/v3\""} if exc.status == 401 else None
    return JSONResponse(body, status_code=exc.status, headers=headers)


class KeystoneRoute(ApiRoute):
    def envelope(self, exc: MrsError) -> JSONResponse:
        return keystone_response(exc)


router = APIRouter(route_class=KeystoneRoute)
#: The root answers every client that looks for versions: its errors stay MRS's.
root = APIRouter()


class _Domain(BaseModel):
    id: str | None = None
    name: str | None = None


class _User(BaseModel):
    id: str | None = None
    name: str | None = None
    domain: _Domain | None = None
    # Secret: it never shows in a repr or an error message.
    password: SecretStr


class _Password(BaseModel):
    user: _User


class _Token(BaseModel):
    id: SecretStr


class _Identity(BaseModel):
    methods: list[str]
    password: _Password | None = None
    token: _Token | None = None


class _Project(BaseModel):
    id: str | None = None
    name: str | None = None
    domain: _Domain | None = None


class _Scope(BaseModel):
    project: _Project | None = None


class _Auth(BaseModel):
    identity: _Identity
    scope: _Scope | None = None


class AuthRequest(BaseModel):
    auth: _Auth


def _check_domain(domain: _Domain | None) -> None:
    if domain is not None and (domain.id not in (None, DOMAIN["id"])
                               or domain.name not in (None, DOMAIN["name"])):
        raise AuthenticationFailed("Invalid authentication: unknown domain (only 'Default').")


def keystone_time(ms: int) -> str:
    """Keystone's timestamps: ISO 8601 in UTC with microseconds and a Z."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def token_body(request: Request, user: User, project: Project, method: str | None,
               issued_ms: int, expires_ms: int | None) -> dict[str, Any]:
    url = base_url(request)
    role = user.role
    endpoint = {"id": uuid.uuid5(uuid.NAMESPACE_URL, url).hex, "interface": "public",
                "region": "local", "region_id": "local", "url": url}
    return {"token": {
        "methods": ["password" if method == "password" else "token"],
        "user": {"id": user.id, "name": user.name, "domain": DOMAIN,
                 "password_expires_at": None},
        "project": {"id": project.id, "name": project.name, "domain": DOMAIN},
        "roles": [{"id": role.value, "name": role.value}],
        "catalog": [{"type": "mrs", "name": "mrs", "id": "mrs", "endpoints": [endpoint]}],
        "issued_at": keystone_time(issued_ms),
        "expires_at": keystone_time(expires_ms) if expires_ms is not None else None,
        "audit_ids": [],
        "is_domain": False,
    }}


def version_document(request: Request) -> dict[str, Any]:
    return {"id": "v3.14", "status": "stable", "updated": "2020-04-07T00:00:00Z",
            "links": [{"rel": "self", "href": base_url(request) + "/v3/"}],
            "media-types": MEDIA_TYPES}


@root.get("/")
def versions(request: Request) -> JSONResponse:
    return JSONResponse({"versions": {"values": [version_document(request)]}},
                        status_code=300)


@router.get("/v3")
@router.get("/v3/")
def version(request: Request) -> JSONResponse:
    return JSONResponse({"version": version_document(request)})


@router.post(TOKENS, status_code=201)
def issue(request: Request, body: JsonBody) -> JSONResponse:
    auth = parse_model(AuthRequest, body).auth
    project = auth.scope.project if auth.scope else None
    if project is not None:
        _check_domain(project.domain)
    methods = auth.identity.methods
    if "password" in methods and auth.identity.password is not None:
        method, issued = "password", _password_login(request, auth.identity.password, project)
    elif "token" in methods and auth.identity.token is not None:
        method, issued = "token", accounts(request).token_login(
            token=auth.identity.token.id.get_secret_value(),
            project_id=project.id if project else None,
            project_name=project.name if project else None, source=source(request))
    else:
        raise AuthenticationFailed("Invalid authentication: give the password or the "
                                   "token method with its credentials.")
    body = token_body(request, issued.user, issued.project, method, issued.issued_ms,
                      issued.expires_ms)
    return JSONResponse(body, status_code=201, headers={"X-Subject-Token": issued.token})


def _password_login(request: Request, password: _Password,
                    project: _Project | None) -> IssuedToken:
    user = password.user
    if not user.id and not user.name:
        raise AuthenticationFailed("Invalid authentication: give the user's id or name.")
    _check_domain(user.domain)
    return accounts(request).password_login(
        password=user.password.get_secret_value(), user_id=user.id, user_name=user.name,
        project_id=project.id if project else None,
        project_name=project.name if project else None, source=source(request))


def _subject(request: Request) -> tuple[str, dict[str, Any]]:
    token = request.headers.get("x-subject-token")
    record, user, project = accounts(request).subject(who(request), token)
    assert token is not None
    return token, token_body(request, user, project, record.method, record.created_ms,
                             record.expires_ms)


@router.get(TOKENS)
def validate(request: Request) -> JSONResponse:
    token, body = _subject(request)
    return JSONResponse(body, headers={"X-Subject-Token": token})


@router.head(TOKENS)
def check(request: Request) -> Response:
    token, _ = _subject(request)
    return Response(status_code=200, headers={"X-Subject-Token": token})


@router.delete(TOKENS, status_code=204)
def revoke(request: Request) -> Response:
    accounts(request).revoke(who(request), request.headers.get("x-subject-token"))
    return Response(status_code=204)
