"""``/metrics`` for operators, in Prometheus's text format: this process's instruments
(:mod:`mrsjobs.telemetry.instruments`) and the jobs by state and queue depth of the
shared store, read from its kept counts, cached for a moment.

Who may read it is the operator's setting (``MRSJOBS_METRICS``): loopback clients only
(the default; behind a proxy on this host, the client it names, see :func:`.auth.source`),
callers with the operator's bearer token, or nobody (the route is not there).
"""

from __future__ import annotations

import hmac
import ipaddress

from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException

from ..domain.jobs import PRE_LAUNCH
from ..settings import Settings
from ..store import Store
from ..telemetry.instruments import Scrape, StateCounts
from .auth import source

METRICS = "/metrics"


def scrape_of(store: Store, counts_ttl_s: float) -> Scrape:
    """What a scrape of ``store``'s service reads: the store's counts at most every
    ``counts_ttl_s`` seconds, however often it is scraped."""
    return Scrape(StateCounts(store.state_counts, [s.value for s in PRE_LAUNCH],
                              ttl_s=counts_ttl_s))


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def check_operator(request: Request, settings: Settings) -> None:
    """Refuse a caller the setting does not let read the metrics."""
    if settings.metrics == "loopback":
        if not _is_loopback(source(request)):
            raise HTTPException(403, "/metrics answers loopback clients only "
                                     "(MRSJOBS_METRICS=loopback)")
        return
    expected = settings.metrics_token.get_secret_value() if settings.metrics_token else ""
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if (not expected or scheme.lower() != "bearer"
            or not hmac.compare_digest(given.strip().encode(), expected.encode())):
        raise HTTPException(401, "/metrics needs the operator's bearer token",
                            headers={"WWW-Authenticate": "Bearer"})


_ERROR = {"content": {"application/json": {"schema": {
    "$ref": "#/components/schemas/MrsError"}}}}


def serve_metrics(app: FastAPI, settings: Settings) -> None:
    """Adds ``/metrics`` to ``app`` unless the setting is off. The lifespan puts
    :func:`scrape_of` the store at ``app.state.metrics``."""
    if settings.metrics == "off":
        return
    if settings.metrics == "token" and not settings.metrics_token:
        raise ValueError("MRSJOBS_METRICS=token needs MRSJOBS_METRICS_TOKEN")
    refusal = (("401", "Not the operator's bearer token.") if settings.metrics == "token"
               else ("403", "Not a loopback client."))

    @app.get(METRICS, response_class=Response, responses={
        200: {"description": "Prometheus's text format.",
              "content": {"text/plain": {"schema": {"type": "string"}}}},
        int(refusal[0]): {"description": refusal[1], **_ERROR}},
        openapi_extra={"security": [{"operator": []}]} if settings.metrics == "token"
        else None)
    def metrics(request: Request) -> Response:
        check_operator(request, settings)
        scrape: Scrape = request.app.state.metrics
        return Response(generate_latest(scrape), media_type=CONTENT_TYPE_LATEST)
