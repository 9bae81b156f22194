"""The MRS v2 job-executions API: jobs addressed by project and cluster.

Its request bodies and query strings become a :class:`JobSpec`, a :class:`JobQuery`
or a list of job ids here; its errors wear MRS's envelope. The limits are the MRS
reference's. Arguments are checked leniently for characters (official examples
contain ``;`` and ``$``, and no shell ever sees them: every job is started from an
argv list); what a job may name and set is the domain's rule
(:mod:`mrsjobs.domain.submit`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from ..domain.diagnostics import diagnostics
from ..domain.errors import InvalidParameter
from ..domain.jobs import Job, JobQuery, JobResult, JobSpec, JobState, JobType
from ..domain.submit import check_arguments
from .deps import ClusterId, JobId, JsonBody, ProjectId, service, who
from .errors import ApiRoute
from .wire import (
    MAX_ARGUMENTS,
    MAX_ARGUMENTS_CHARS,
    JobName,
    parse_model,
    query_enum,
    query_int,
    query_text,
    shown_properties,
)

JOBS = "/v2/{project_id}/clusters/{cluster_id}/job-executions"

MAX_PROPERTIES_CHARS = 2048
MAX_PROPERTIES = 1000
PROPERTY_FORBIDDEN = set("><|'`&!\\")
MAX_PAGE_SIZE = 1000

router = APIRouter(route_class=ApiRoute)

# -- requests -----------------------------------------------------------------------------


class SubmitRequest(BaseModel):
    """The v2 ``JobExecution`` body."""

    model_config = ConfigDict(extra="ignore")

    job_type: JobType
    job_name: JobName
    arguments: list[str] = Field(default_factory=list, max_length=MAX_ARGUMENTS)
    properties: dict[str, str] = Field(default_factory=dict, max_length=MAX_PROPERTIES)


class BatchDeleteRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    job_id_list: Annotated[list[Annotated[str, StringConstraints(min_length=1, max_length=64)]],
                           Field(min_length=1, max_length=1000)]


def submit_spec(raw: Any) -> JobSpec:
    """The spec of a v2 submit body, with the arguments its job type needs. What it names
    and sets, the service checks (:func:`mrsjobs.domain.submit.check_spec`) next."""
    req = parse_model(SubmitRequest, raw)
    args = tuple(req.arguments)
    if sum(len(a) for a in args) > MAX_ARGUMENTS_CHARS:
        raise InvalidParameter("arguments", f"longer than {MAX_ARGUMENTS_CHARS} characters")
    if sum(len(k) + len(v) + 1 for k, v in req.properties.items()) > MAX_PROPERTIES_CHARS:
        raise InvalidParameter("properties", f"longer than {MAX_PROPERTIES_CHARS} characters")
    for key, value in req.properties.items():
        if not key:
            raise InvalidParameter("properties", "keys must not be empty")
        if PROPERTY_FORBIDDEN & set(key + value):
            bad = "".join(sorted(PROPERTY_FORBIDDEN & set(key + value)))
            raise InvalidParameter(f"properties.{key}", f"must not contain any of {bad!r}")
    check_arguments(req.job_type, args)
    return JobSpec(req.job_name, req.job_type.stored, args, dict(req.properties))


def list_query(project_id: str, cluster_id: str, params: Mapping[str, str]) -> JobQuery:
    """A v2 list query from its query-string parameters."""
    sort_by = params.get("sort_by") or "desc"
    if sort_by not in ("asc", "desc"):
        raise InvalidParameter("sort_by", "must be asc or desc")
    max_ms = 2**63 - 1
    job_type = query_enum(params, "job_type", JobType)
    return JobQuery(
        project_id=project_id,
        cluster_id=cluster_id,
        job_name=query_text(params, "job_name", 128),
        job_id=query_text(params, "job_id", 64),
        user=query_text(params, "user", 32),
        job_type=job_type.stored if job_type else None,
        job_states=frozenset({state}) if (state := query_enum(params, "job_state", JobState))
        else None,
        job_result=query_enum(params, "job_result", JobResult),
        queue=query_text(params, "queue", 64),
        submitted_from_ms=query_int(params, "submitted_time_begin", 0, 0, max_ms)
        if params.get("submitted_time_begin") else None,
        submitted_to_ms=query_int(params, "submitted_time_end", 0, 0, max_ms)
        if params.get("submitted_time_end") else None,
        limit=query_int(params, "limit", 10, 1, MAX_PAGE_SIZE),
        page=query_int(params, "offset", 1, 1, 2**31),
        descending=sort_by == "desc",
    )


# -- responses ----------------------------------------------------------------------------


def java_list(items: Iterable[str]) -> str:
    """Java's ``List.toString()``: ``[a, b]``, the form MRS returns ``arguments`` in."""
    return "[" + ", ".join(items) + "]"


def java_map(items: Mapping[str, str]) -> str:
    """Java's ``Map.toString()``: ``{k=v, k2=v2}``, the form MRS returns ``properties`` in."""
    return "{" + ", ".join(f"{k}={v}" for k, v in items.items()) + "}"


def job_v2(job: Job) -> dict[str, Any]:
    """The v2 ``JobQueryBean``, and ``diagnostics``: why the job is where it is."""
    return {
        "job_id": job.id,
        "user": job.user,
        "job_name": job.name,
        "job_result": job.result.value,
        "job_state": job.state.value,
        "job_progress": job.progress,
        "job_type": job.type.value,
        "started_time": job.started_ms or 0,
        "submitted_time": job.submitted_ms,
        "finished_time": job.finished_ms or 0,
        "elapsed_time": job.elapsed_ms,
        "arguments": java_list(job.arguments),
        "properties": java_map(shown_properties(job.properties)),
        "launcher_id": job.launcher_id or "",
        "app_id": job.app_id or "",
        "tracking_url": job.tracking_url or "",
        "queue": job.queue,
        "diagnostics": diagnostics(job),
    }


# -- routes -------------------------------------------------------------------------------


@router.post(JOBS, status_code=202)
async def submit(request: Request, project_id: ProjectId, cluster_id: ClusterId,
                 body: JsonBody) -> JSONResponse:
    # The hot path: on the event loop, awaiting its (group) commit. Credentials and
    # clusters are cached, so it rarely touches the database for anything else.
    caller, jobs = who(request), service(request)
    jobs.authorize_submit(caller, project_id, cluster_id)
    spec = submit_spec(body)
    job = await jobs.submit_async(caller, project_id, cluster_id, spec)
    return JSONResponse({"job_submit_result": {"job_id": job.id, "state": "COMPLETE"}},
                        status_code=202)


@router.get(JOBS, status_code=202)
def list_jobs(request: Request, project_id: ProjectId, cluster_id: ClusterId) -> JSONResponse:
    caller, jobs = who(request), service(request)
    jobs.authorize(caller, project_id, cluster_id)
    query = list_query(project_id, cluster_id, request.query_params)
    total, found = jobs.list_jobs(caller, query)
    return JSONResponse({"total_record": total, "job_list": [job_v2(j) for j in found]},
                        status_code=202)


@router.post(JOBS + "/batch-delete", status_code=202)
def batch_delete(request: Request, project_id: ProjectId, cluster_id: ClusterId,
                 body: JsonBody) -> Response:
    caller, jobs = who(request), service(request)
    jobs.authorize(caller, project_id, cluster_id, change=True)
    job_ids = parse_model(BatchDeleteRequest, body).job_id_list
    jobs.batch_delete(caller, project_id, cluster_id, job_ids)
    return Response(status_code=202)


@router.get(JOBS + "/{job_execution_id}", status_code=202)
def show(request: Request, project_id: ProjectId, cluster_id: ClusterId,
         job_execution_id: JobId) -> JSONResponse:
    job = service(request).show(who(request), project_id, cluster_id, job_execution_id)
    return JSONResponse({"job_detail": job_v2(job)}, status_code=202)


@router.get(JOBS + "/{job_execution_id}/sql-result", status_code=202)
def sql_result(request: Request, project_id: ProjectId, cluster_id: ClusterId,
               job_execution_id: JobId) -> JSONResponse:
    found = service(request).sql_result(who(request), project_id, cluster_id,
                                        job_execution_id)
    body: dict[str, Any] = {"sql_results": {str(r.statement): list(r.rows) for r in found}}
    if truncated := [str(r.statement) for r in found if r.truncated]:
        # Not in MRS's answer (its clients ignore it): the statements with rows left out.
        body["truncated_statements"] = truncated
    return JSONResponse(body, status_code=202)


@router.post(JOBS + "/{job_execution_id}/kill", status_code=202)
def kill(request: Request, project_id: ProjectId, cluster_id: ClusterId,
         job_execution_id: JobId) -> Response:
    service(request).kill(who(request), project_id, cluster_id, job_execution_id)
    return Response(status_code=202)
