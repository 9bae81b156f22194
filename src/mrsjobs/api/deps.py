"""What every route needs: the service, the caller, the JSON body, path-parameter rules."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Path, Request

from ..service.jobs import JobService
from .auth import who
from .wire import parse_json_body

__all__ = ["ClusterId", "JobId", "JsonBody", "ProjectId", "service", "who"]

ProjectId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9]+$")]
ClusterId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
JobId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


def service(request: Request) -> JobService:
    svc: JobService = request.app.state.service
    return svc


async def _json_body(request: Request) -> Any:
    """The body as JSON whatever its Content-Type says (curl -d sends a form type).
    Every route that takes a body reads it here: nesting depth, NUL characters and
    unpaired surrogates are refused in one place (see :func:`parse_json_body`)."""
    return parse_json_body(await request.body())


JsonBody = Annotated[Any, Depends(_json_body)]
