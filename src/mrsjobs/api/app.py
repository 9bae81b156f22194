"""The ASGI application: the v2 job-executions routes, thin over :class:`JobService`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse

from ..bootstrap import ensure_defaults, instance_id, open_accounts, open_store
from ..engines.local.commands import RUNNABLE, LocalCluster
from ..engines.local.engine import ProcessEngine
from ..service.files import FileService
from ..service.jobs import JobService
from ..settings import Settings
from ..store.notify import KillListener
from ..supervisor.loop import Supervisor, SupervisorConfig
from ..supervisor.purger import Purger, RetentionConfig
from . import errors
from .auth import keep_signed_body
from .deps import ClusterId, JobId, JsonBody, ProjectId, service, who
from .files import bounded_signed_body, files
from .identity import identity
from .limits import RequestLimits
from .openapi import describe
from .v11 import v11
from .views import job_v2

JOBS = "/v2/{project_id}/clusters/{cluster_id}/job-executions"

v2 = APIRouter()


@v2.post(JOBS, status_code=202)
async def submit(request: Request, project_id: ProjectId, cluster_id: ClusterId,
                 body: JsonBody) -> JSONResponse:
    # The hot path: on the event loop, awaiting its (group) commit. Credentials and
    # clusters are cached, so it rarely touches the database for anything else.
    job = await service(request).submit_async(who(request), project_id, cluster_id, body)
    return JSONResponse({"job_submit_result": {"job_id": job.id, "state": "COMPLETE"}},
                        status_code=202)


@v2.get(JOBS, status_code=202)
def list_jobs(request: Request, project_id: ProjectId, cluster_id: ClusterId) -> JSONResponse:
    total, jobs = service(request).list_jobs(who(request), project_id, cluster_id,
                                         request.query_params)
    return JSONResponse({"total_record": total, "job_list": [job_v2(j) for j in jobs]},
                        status_code=202)


@v2.post(JOBS + "/batch-delete", status_code=202)
def batch_delete(request: Request, project_id: ProjectId, cluster_id: ClusterId,
                 body: JsonBody) -> Response:
    service(request).batch_delete(who(request), project_id, cluster_id, body)
    return Response(status_code=202)


@v2.get(JOBS + "/{job_execution_id}", status_code=202)
def show(request: Request, project_id: ProjectId, cluster_id: ClusterId,
         job_execution_id: JobId) -> JSONResponse:
    job = service(request).show(who(request), project_id, cluster_id, job_execution_id)
    return JSONResponse({"job_detail": job_v2(job)}, status_code=202)


@v2.post(JOBS + "/{job_execution_id}/kill", status_code=202)
def kill(request: Request, project_id: ProjectId, cluster_id: ClusterId,
         job_execution_id: JobId) -> Response:
    service(request).kill(who(request), project_id, cluster_id, job_execution_id)
    return Response(status_code=202)


def create_app(settings: Settings) -> FastAPI:
    """The service with its store, local cluster and supervisor, started in ``lifespan``."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = open_store(settings)
        defaults = ensure_defaults(store)
        cluster = LocalCluster(settings)
        supervisor = Supervisor(
            store,
            ProcessEngine(settings.python, settings.poll_interval_s,
                          max_log_bytes=settings.max_log_bytes),
            cluster,
            SupervisorConfig(
                owner=instance_id(settings),
                runs_dir=settings.runs_dir.resolve(),
                max_running=settings.max_running,
                kill_grace_s=settings.kill_grace_s,
                kill_attempts=settings.kill_attempts,
                kill_confirm_s=settings.kill_confirm_s,
                poll_interval_s=settings.poll_interval_s,
                host=settings.hostname,
                instance_timeout_s=settings.instance_timeout_s,
                lost_timeout_s=settings.lost_timeout_s,
            ),
        )
        accounts = open_accounts(settings, store)
        app.state.accounts = accounts
        contained = cluster.containment
        app.state.service = JobService(
            store, RUNNABLE, supervisor, audit=accounts.store, read_roots=settings.read_roots,
            sole_project=None if contained.per_project else defaults.project_id)
        app.state.files = FileService(store, lambda c: cluster.area(c.project_id, c.id),
                                      settings.max_upload_bytes)
        purger = (Purger(store, RetentionConfig(
            settings.retention_s, settings.retention_interval_s,
            settings.runs_dir.resolve(), settings.retention_batch))
            if settings.retention_s > 0 else None)
        supervisor.start()
        listener = (KillListener(store.url, supervisor.config.owner, supervisor.kill_requested)
                    if store.is_postgres else None)
        for helper in (listener, purger):
            if helper is not None:
                helper.start()
        try:
            yield
        finally:
            for helper in (purger, listener):
                if helper is not None:
                    helper.stop()
            supervisor.stop()
            # A metastore may serve another instance's jobs (a shared clusters_dir).
            cluster.stop_metastores(keep=store.busy_clusters())
            cluster.containment.release()
            store.close()

    # The OpenAPI document (/openapi.json) describes the routes; no docs pages.
    app = FastAPI(title="mrsjobs", lifespan=lifespan, openapi_url="/openapi.json",
                  docs_url=None, redoc_url=None)
    # Inside the request-id middleware that errors.install adds: its 413s get the id too.
    app.add_middleware(RequestLimits, max_body_bytes=settings.max_body_bytes)
    errors.install(app)
    # Job routes check AK/SK signatures over the body, which they read ahead.
    signed = [Depends(keep_signed_body)]
    app.include_router(v2, dependencies=signed)
    app.include_router(v11, dependencies=signed)
    app.include_router(files, dependencies=[Depends(bounded_signed_body)])
    app.include_router(identity)
    describe(app)
    return app
