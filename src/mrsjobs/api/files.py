"""The file-area routes: V2-10 list, plus put (the request body is the file) and delete.

Uploads are streamed to the area, never held whole in memory, and bounded by
``Settings.max_upload_bytes`` (413 beyond it). An AK/SK-signed request is signed over its
body, so that body is read ahead (bounded the same way) for the signature check.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Annotated

from anyio import from_thread
from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from ..domain.errors import PayloadTooLarge
from ..identity.signing import is_signed
from ..service.files import FileService
from .deps import ClusterId, ProjectId, who

FILES = "/v2/{project_id}/clusters/{cluster_id}/files"

AreaPath = Annotated[str, Query(min_length=1, max_length=4096)]

router = APIRouter()


def file_service(request: Request) -> FileService:
    svc: FileService = request.app.state.files
    return svc


async def bounded_signed_body(request: Request) -> None:
    """Refuses a body declared bigger than an upload may be; reads a signed request's
    body ahead, bounded, for :func:`who` to check the signature over it."""
    limit = file_service(request).max_upload_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(limit)
    if not is_signed(request.headers.get("authorization")):
        return
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(limit)
        chunks.append(chunk)
    request.state.signed_body = b"".join(chunks)


@router.get(FILES)
def list_files(request: Request, project_id: ProjectId, cluster_id: ClusterId,
               path: AreaPath, offset: int = 1, limit: int = 100,
               sort_key: str = "path_suffix", order: str = "asc") -> JSONResponse:
    total, found = file_service(request).list(
        who(request), project_id, cluster_id, path, offset=offset, limit=limit,
        sort_key=sort_key, order=order)
    return JSONResponse({"total_count": total, "files": [f.as_dict() for f in found]})


@router.put(FILES, status_code=201)
async def put_file(request: Request, project_id: ProjectId, cluster_id: ClusterId,
                   path: AreaPath) -> JSONResponse:
    signed: bytes | None = getattr(request.state, "signed_body", None)

    def store() -> JSONResponse:
        # In a worker thread: the caller is checked before the first chunk is read.
        body = signed if signed is not None else _chunks(request.stream())
        status = file_service(request).put(who(request), project_id, cluster_id, path, body)
        return JSONResponse(status.as_dict(), status_code=201)

    return await run_in_threadpool(store)


@router.delete(FILES, status_code=204)
def delete_file(request: Request, project_id: ProjectId, cluster_id: ClusterId,
                path: AreaPath) -> Response:
    file_service(request).delete(who(request), project_id, cluster_id, path)
    return Response(status_code=204)


def _chunks(stream: AsyncIterator[bytes]) -> Iterator[bytes]:
    """The request body's chunks, for a worker thread, as the event loop receives them."""

    async def next_chunk() -> bytes | None:
        try:
            return await anext(stream)
        except StopAsyncIteration:
            return None

    while (chunk := from_thread.run(next_chunk)) is not None:
        if chunk:
            yield chunk
