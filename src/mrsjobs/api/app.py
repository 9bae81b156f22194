"""The ASGI application: the v2 job-executions routes, thin over :class:`JobService`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Body, FastAPI, Path, Request, Response
from fastapi.responses import JSONResponse

from ..bootstrap import ensure_defaults, instance_id, open_store
from ..domain import JobState
from ..engines.process import ProcessEngine
from ..launchers import RUNNABLE, LocalCluster
from ..service import JobService
from ..settings import Settings
from ..store import Identity
from ..supervisor import Supervisor, SupervisorConfig
from . import errors
from .views import job_v2

ProjectId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9]+$")]
ClusterId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
JobId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
JsonBody = Annotated[Any, Body()]

JOBS = "/v2/{project_id}/clusters/{cluster_id}/job-executions"

v2 = APIRouter()


def _service(request: Request) -> JobService:
    service: JobService = request.app.state.service
    return service


def _who(request: Request) -> Identity:
    return _service(request).authenticate(request.headers.get("x-auth-token"))


@v2.post(JOBS, status_code=202)
def submit(request: Request, project_id: ProjectId, cluster_id: ClusterId,
           body: JsonBody = None) -> JSONResponse:
    job = _service(request).submit(_who(request), project_id, cluster_id, body)
    return JSONResponse({"job_submit_result": {"job_id": job.id, "state": "COMPLETE"}},
                        status_code=202)


@v2.get(JOBS, status_code=202)
def list_jobs(request: Request, project_id: ProjectId, cluster_id: ClusterId) -> JSONResponse:
    total, jobs = _service(request).list(_who(request), project_id, cluster_id,
                                         request.query_params)
    return JSONResponse({"total_record": total, "job_list": [job_v2(j) for j in jobs]},
                        status_code=202)


@v2.post(JOBS + "/batch-delete", status_code=202)
def batch_delete(request: Request, project_id: ProjectId, cluster_id: ClusterId,
                 body: JsonBody = None) -> Response:
    _service(request).batch_delete(_who(request), project_id, cluster_id, body)
    return Response(status_code=202)


@v2.get(JOBS + "/{job_execution_id}", status_code=202)
def show(request: Request, project_id: ProjectId, cluster_id: ClusterId,
         job_execution_id: JobId) -> JSONResponse:
    job = _service(request).show(_who(request), project_id, cluster_id, job_execution_id)
    return JSONResponse({"job_detail": job_v2(job)}, status_code=202)


@v2.post(JOBS + "/{job_execution_id}/kill", status_code=202)
def kill(request: Request, project_id: ProjectId, cluster_id: ClusterId,
         job_execution_id: JobId) -> Response:
    _service(request).kill(_who(request), project_id, cluster_id, job_execution_id)
    return Response(status_code=202)


def create_app(settings: Settings) -> FastAPI:
    """The service with its store, local cluster and supervisor, started in ``lifespan``."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = open_store(settings)
        ensure_defaults(store)
        cluster = LocalCluster(settings)
        supervisor = Supervisor(
            store,
            ProcessEngine(settings.python, settings.poll_interval_s),
            cluster,
            SupervisorConfig(
                owner=instance_id(settings),
                runs_dir=settings.runs_dir.resolve(),
                max_running=settings.max_running,
                kill_grace_s=settings.kill_grace_s,
                kill_attempts=settings.kill_attempts,
                kill_confirm_s=settings.kill_confirm_s,
                poll_interval_s=settings.poll_interval_s,
            ),
        )
        app.state.service = JobService(store, RUNNABLE, supervisor)
        supervisor.start()
        try:
            yield
        finally:
            supervisor.stop()
            busy = {j.cluster_id for j in store.owned_jobs(supervisor.config.owner)
                    if j.state is JobState.RUNNING}
            cluster.stop_metastores(keep=busy)
            store.close()

    app = FastAPI(title="mrsjobs", lifespan=lifespan, openapi_url=None, docs_url=None,
                  redoc_url=None)
    errors.install(app)
    app.include_router(v2)
    return app
