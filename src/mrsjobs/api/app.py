"""The ASGI application: each API's routes, the request limits, the error handlers, and
a lifespan that starts the service :func:`mrsjobs.bootstrap.build` puts together."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from threading import Event

from fastapi import Depends, FastAPI

from ..bootstrap import build
from ..service.logs import LogReader
from ..service.spark_ui import SparkUis
from ..settings import Settings
from ..telemetry import logs as log_lines
from . import clusters, console, errors, files, keystone, logs, sahara, spark_ui, v2, v11
from .auth import keep_signed_body
from .docs import serve_docs
from .limits import RequestLimits
from .metrics import scrape_of, serve_metrics
from .openapi import describe


def create_app(settings: Settings) -> FastAPI:
    """The service with its store, local cluster and supervisor, started in ``lifespan``."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        log_lines.configure(settings.log_format, requests=settings.log_requests)
        runtime = build(settings)
        app.state.metrics = scrape_of(runtime.store, settings.metrics_ttl_s)
        app.state.accounts = runtime.accounts
        app.state.service = runtime.jobs
        app.state.files = runtime.files
        app.state.clusters = runtime.clusters
        app.state.logs = LogReader(runtime.jobs, settings.runs_dir.resolve(),
                                   closing=app.state.closing,
                                   idle_s=settings.log_heartbeat_s)
        # Running Spark jobs' UIs, reached through bridges that live in data_dir/ui.
        app.state.spark_uis = SparkUis(runtime.jobs, settings.runs_dir.resolve(),
                                       settings.data_dir.resolve() / "ui",
                                       idle_s=settings.spark_ui_idle_s)
        runtime.start()
        try:
            yield
        finally:
            app.state.spark_uis.close()
            runtime.stop()

    # The OpenAPI document (/openapi.json) describes the routes; /docs shows it.
    app = FastAPI(title="mrsjobs", lifespan=lifespan, openapi_url="/openapi.json",
                  docs_url=None, redoc_url=None)
    # Set when the server starts to shut down: followed logs end then.
    app.state.closing = Event()
    apis = (v2.router, logs.router, spark_ui.router, v11.router, sahara.router,
            clusters.router, files.router, keystone.router, keystone.root)
    envelopes = errors.Envelopes(apis)
    # Inside the request-id middleware that errors.install adds: its 413s get the id too.
    app.add_middleware(RequestLimits, max_body_bytes=settings.max_body_bytes,
                       envelopes=envelopes)
    errors.install(app, envelopes)
    # Job routes check AK/SK signatures over the body, which they read ahead.
    signed = [Depends(keep_signed_body)]
    app.include_router(v2.router, dependencies=signed)
    app.include_router(logs.router, dependencies=signed)
    app.include_router(spark_ui.router, dependencies=signed)
    app.include_router(v11.router, dependencies=signed)
    app.include_router(sahara.router, dependencies=signed)
    app.include_router(clusters.router, dependencies=signed)
    app.include_router(files.router, dependencies=[Depends(files.bounded_signed_body)])
    app.include_router(keystone.root)
    app.include_router(keystone.router)
    console.mount(app)
    describe(app)
    serve_docs(app, "/openapi.json")
    serve_metrics(app, settings)
    return app
