"""The v1.1 routes: MRS job-exes and the Sahara-compatible job-executions."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from ..domain.errors import InvalidParameter
from .deps import JobId, JsonBody, ProjectId, service, who
from .views import job_sahara, job_v11_exe, job_v11_submitted

#: Routes whose errors use Sahara's envelope (see :mod:`mrsjobs.api.errors`).
SAHARA = "/v1.1/{project_id}/job-executions"

v11 = APIRouter()


@v11.post("/v1.1/{project_id}/jobs/submit-job")
def submit_job(request: Request, project_id: ProjectId, body: JsonBody) -> JSONResponse:
    job = service(request).submit_v11(who(request), project_id, body)
    shape = job_v11_submitted(job)
    # Wrapped as the reference shows it, and flat as the Python SDK reads it.
    return JSONResponse({"job_execution": shape, **shape})


@v11.get("/v1.1/{project_id}/job-exes")
def list_job_exes(request: Request, project_id: ProjectId) -> JSONResponse:
    total, jobs = service(request).list_v11(who(request), project_id, request.query_params)
    return JSONResponse({"totalRecord": total, "job_executions": [job_v11_exe(j) for j in jobs]})


@v11.get("/v1.1/{project_id}/job-exes/{job_exe_id}")
def show_job_exe(request: Request, project_id: ProjectId, job_exe_id: JobId) -> JSONResponse:
    job = service(request).job_in_project(who(request), project_id, job_exe_id)
    return JSONResponse({"job_execution": job_v11_exe(job)})


@v11.get(SAHARA)
def list_job_executions(request: Request, project_id: ProjectId) -> JSONResponse:
    jobs, prev, next_ = service(request).page_sahara(who(request), project_id,
                                                      request.query_params)
    return JSONResponse({"markers": {"prev": prev, "next": next_},
                         "job_executions": [job_sahara(j) for j in jobs]})


@v11.get(SAHARA + "/{job_execution_id}")
def show_job_execution(request: Request, project_id: ProjectId,
                       job_execution_id: JobId) -> JSONResponse:
    job = service(request).job_in_project(who(request), project_id, job_execution_id)
    return JSONResponse({"job_execution": job_sahara(job)})


@v11.get(SAHARA + "/{job_execution_id}/cancel")
def cancel_job_execution(request: Request, project_id: ProjectId,
                         job_execution_id: JobId) -> JSONResponse:
    job = service(request).cancel(who(request), project_id, job_execution_id)
    return JSONResponse({"job_execution": job_sahara(job)})


@v11.patch(SAHARA + "/{job_execution_id}")
def update_job_execution(request: Request, project_id: ProjectId, job_execution_id: JobId,
                         body: JsonBody) -> JSONResponse:
    caller = who(request)
    if not isinstance(body, dict):
        raise InvalidParameter("body", "must be a JSON object")
    info = body.get("info")
    if not isinstance(info, dict):
        raise InvalidParameter("info", "must be an object: {\"status\": \"cancel\"}")
    status = info.get("status")
    if not isinstance(status, str) or status.lower() != "cancel":
        raise InvalidParameter("info.status", "the only supported change is 'cancel'")
    job = service(request).cancel(caller, project_id, job_execution_id)
    return JSONResponse({"job_execution": job_sahara(job)}, status_code=202)


@v11.delete(SAHARA + "/{job_execution_id}", status_code=204)
def delete_job_execution(request: Request, project_id: ProjectId,
                         job_execution_id: JobId) -> Response:
    service(request).delete(who(request), project_id, job_execution_id)
    return Response(status_code=204)
