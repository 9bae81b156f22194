"""The Sahara-compatible v1.1 job-executions API: a project's jobs, paged by marker,
cancelled and deleted by id. Its statuses are computed from a job's (state, result),
and its errors wear Sahara's envelope (with the MRS code alongside)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from ..domain.diagnostics import diagnostics
from ..domain.errors import ClusterNotFound, InvalidParameter, JobNotFound, MrsError
from ..domain.jobs import PRE_LAUNCH, Job, JobPage, JobResult, JobState
from .deps import JobId, JsonBody, ProjectId, service, who
from .errors import ApiRoute
from .wire import query_int, shown_properties

SAHARA = "/v1.1/{project_id}/job-executions"

#: Sahara's ``error_name`` for each HTTP status it answers with.
SAHARA_NAMES = {400: "INVALID_DATA", 401: "UNAUTHORIZED", 403: "FORBIDDEN", 404: "NOT_FOUND",
                413: "REQUEST_ENTITY_TOO_LARGE", 429: "TOO_MANY_REQUESTS",
                500: "INTERNAL_SERVER_ERROR"}


def sahara_response(exc: MrsError) -> JSONResponse:
    """Sahara's envelope, with a missing job as 404 as Sahara's clients expect; the MRS
    code rides along so MRS clients can still tell errors apart."""
    status = 404 if isinstance(exc, JobNotFound | ClusterNotFound) else exc.status
    body = {"error_code": status, "error_name": SAHARA_NAMES.get(status, "BAD_REQUEST"),
            "error_message": exc.message, "error_msg": exc.message, "mrs_code": exc.code}
    return JSONResponse(body, status_code=status)


class SaharaRoute(ApiRoute):
    def envelope(self, exc: MrsError) -> JSONResponse:
        return sahara_response(exc)


router = APIRouter(route_class=SaharaRoute)


class SaharaStatus(StrEnum):
    """The ``info.status`` of a Sahara job execution."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    TOBEKILLED = "TOBEKILLED"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    KILLED = "KILLED"


def sahara_status(job: Job) -> SaharaStatus:
    if job.state in PRE_LAUNCH:
        return SaharaStatus.PENDING
    if job.state is JobState.RUNNING:
        # A stored kill request that the owner has not completed yet.
        return (SaharaStatus.TOBEKILLED if job.kill_requested_ms is not None
                else SaharaStatus.RUNNING)
    return {
        JobResult.SUCCEEDED: SaharaStatus.SUCCEEDED,
        JobResult.FAILED: SaharaStatus.FAILED,
        JobResult.KILLED: SaharaStatus.KILLED,
    }[job.result]


# -- requests -----------------------------------------------------------------------------

#: Sahara ``sort_by`` field -> the job field it sorts by.
SAHARA_SORT = {"created_at": "submitted_ms", "start_time": "started_ms",
               "end_time": "finished_ms", "id": "id", "cluster_id": "cluster_id",
               "job_name": "name"}


class SaharaInfo(BaseModel):
    status: str


class SaharaUpdate(BaseModel):
    """The Sahara job-execution PATCH body: ``{"info": {"status": "cancel"}}``."""

    info: SaharaInfo


def page_query(project_id: str, params: Mapping[str, str]) -> JobPage:
    """A page of the project's jobs from the list's query-string parameters."""
    sort_by = params.get("sort_by") or "created_at"
    sort = SAHARA_SORT.get(sort_by.removeprefix("-"))
    if sort is None:
        raise InvalidParameter("sort_by", f"must be one of {', '.join(SAHARA_SORT)}, "
                                          "with '-' in front for descending order")
    return JobPage(project_id, limit=query_int(params, "limit", 100, 1, 1_073_741_822),
                   marker=params.get("marker") or None, sort=sort,
                   descending=sort_by.startswith("-"))


def check_cancel(body: Any) -> None:
    """InvalidParameter unless ``body`` asks for the one change there is: a cancel."""
    if not isinstance(body, dict):
        raise InvalidParameter("body", "must be a JSON object")
    info = body.get("info")
    if not isinstance(info, dict):
        raise InvalidParameter("info", "must be an object: {\"status\": \"cancel\"}")
    status = info.get("status")
    if not isinstance(status, str) or status.lower() != "cancel":
        raise InvalidParameter("info.status", "the only supported change is 'cancel'")


# -- responses ----------------------------------------------------------------------------


def _iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S")


def job_sahara(job: Job) -> dict[str, Any]:
    """The Sahara ``job_execution``: ISO times without zone; ``info.status`` from the
    state, ``info.diagnostics`` why the job is there."""
    return {
        "id": job.id,
        "tenant_id": job.project_id,
        "job_id": "",
        "cluster_id": job.cluster_id,
        "created_at": _iso(job.submitted_ms),
        "updated_at": _iso(job.updated_ms),
        "start_time": _iso(job.started_ms),
        "end_time": _iso(job.finished_ms),
        "oozie_job_id": None,
        "engine_job_id": job.launcher_id,
        "return_code": None if job.exit_code is None else str(job.exit_code),
        "input_id": None,
        "output_id": None,
        "is_protected": False,
        "is_public": False,
        "job_configs": {"configs": shown_properties(job.properties),
                        "args": list(job.arguments),
                        "params": {}},
        "data_source_urls": None,
        "info": {"status": sahara_status(job).value, "diagnostics": diagnostics(job)},
    }


# -- routes -------------------------------------------------------------------------------


@router.get(SAHARA)
def list_job_executions(request: Request, project_id: ProjectId) -> JSONResponse:
    caller, jobs = who(request), service(request)
    jobs.authorize(caller, project_id)
    found, prev, next_ = jobs.page(caller, page_query(project_id, request.query_params))
    return JSONResponse({"markers": {"prev": prev, "next": next_},
                         "job_executions": [job_sahara(j) for j in found]})


@router.get(SAHARA + "/{job_execution_id}")
def show_job_execution(request: Request, project_id: ProjectId,
                       job_execution_id: JobId) -> JSONResponse:
    job = service(request).job_in_project(who(request), project_id, job_execution_id)
    return JSONResponse({"job_execution": job_sahara(job)})


@router.get(SAHARA + "/{job_execution_id}/cancel")
def cancel_job_execution(request: Request, project_id: ProjectId,
                         job_execution_id: JobId) -> JSONResponse:
    job = service(request).cancel(who(request), project_id, job_execution_id)
    return JSONResponse({"job_execution": job_sahara(job)})


@router.patch(SAHARA + "/{job_execution_id}")
def update_job_execution(request: Request, project_id: ProjectId, job_execution_id: JobId,
                         body: JsonBody) -> JSONResponse:
    caller = who(request)
    check_cancel(body)
    job = service(request).cancel(caller, project_id, job_execution_id)
    return JSONResponse({"job_execution": job_sahara(job)}, status_code=202)


@router.delete(SAHARA + "/{job_execution_id}", status_code=204)
def delete_job_execution(request: Request, project_id: ProjectId,
                         job_execution_id: JobId) -> Response:
    service(request).delete(who(request), project_id, job_execution_id)
    return Response(status_code=204)
