"""A job's log over HTTP, an extension of the v2 job-executions API.

``GET .../job-executions/{id}/log?type=stdout|stderr&offset=N&limit=N`` answers the
bytes [offset, offset + limit) as text, with the offset of the first byte, the next
offset and the log's size in headers. With ``follow=true`` it answers server-sent
events instead: the log from ``offset`` as it is written (each event's ``id`` is the
offset to resume from), comment heartbeats, and one ``end`` event once the job has
ended and all of its log was sent.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse

from ..domain.errors import InvalidParameter
from ..service.logs import MAX_READ_BYTES, LogChunk, LogReader, LogStream
from .deps import ClusterId, JobId, ProjectId, who
from .errors import ApiRoute
from .v2 import JOBS
from .wire import query_enum, query_int

LOG = JOBS + "/{job_execution_id}/log"

#: A comment line this often keeps proxies from closing a quiet stream.
HEARTBEAT_S = 15.0

router = APIRouter(route_class=ApiRoute)

_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def reader(request: Request) -> LogReader:
    logs: LogReader = request.app.state.logs
    return logs


def _follow(request: Request) -> bool:
    raw = request.query_params.get("follow", "false").lower()
    if raw not in ("true", "false"):
        raise InvalidParameter("follow", "must be true or false")
    return raw == "true"


def sse_event(chunk: LogChunk) -> bytes:
    """One event: the chunk's text on ``data:`` lines, the offset after it as its id;
    a comment if the chunk is empty (nothing new for a while)."""
    if chunk.final:
        end: dict[str, object] = {"job_state": chunk.job.state.value,
                                  "job_result": chunk.job.result.value}
        if chunk.gone:
            end["job_deleted"] = True
        return (f"id: {chunk.next_offset}\nevent: end\n"
                f"data: {json.dumps(end)}\n\n").encode()
    if not chunk.data:
        return b": keep-alive\n\n"
    lines = _LINE_BREAK.split(chunk.data.decode(errors="replace"))
    return (f"id: {chunk.next_offset}\n" + "".join(f"data: {line}\n" for line in lines)
            + "\n").encode()


@router.get(LOG)
async def job_log(request: Request, project_id: ProjectId, cluster_id: ClusterId,
                  job_execution_id: JobId) -> Response:
    caller, logs = who(request), reader(request)
    logs.jobs.authorize(caller, project_id, cluster_id)
    params = request.query_params
    stream = query_enum(params, "type", LogStream) or LogStream.STDOUT
    # A resuming EventSource sends the offset it reached as Last-Event-ID.
    resumed = request.headers.get("last-event-id")
    offset = query_int({"offset": resumed} if resumed else params, "offset", 0, 0, 2**62)
    limit = query_int(params, "limit", MAX_READ_BYTES, 1, MAX_READ_BYTES)
    if _follow(request):
        # Refused (an unknown job, say) before the stream starts, as show would be.
        await asyncio.to_thread(logs.jobs.show, caller, project_id, cluster_id,
                                job_execution_id)

        async def body() -> AsyncIterator[bytes]:
            async for chunk in logs.follow(caller, project_id, cluster_id,
                                           job_execution_id, stream, offset,
                                           idle_s=HEARTBEAT_S):
                yield sse_event(chunk)

        return StreamingResponse(body(), media_type="text/event-stream", headers={
            "Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    chunk = await asyncio.to_thread(logs.read, caller, project_id, cluster_id,
                                    job_execution_id, stream, offset, limit)
    return Response(chunk.data, media_type="text/plain; charset=utf-8", headers={
        "X-Log-Offset": str(chunk.offset),
        "X-Log-Next-Offset": str(chunk.next_offset),
        "X-Log-Size": str(chunk.size),
        "X-Job-State": chunk.job.state.value,
    })

