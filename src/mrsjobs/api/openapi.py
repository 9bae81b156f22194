"""The OpenAPI document at ``/openapi.json``: FastAPI's, plus what the routes read by
hand (the JSON bodies, through :data:`mrsjobs.api.deps.JsonBody`, and the list routes'
query parameters), so that clients and fuzzers see the whole API."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from ..domain.jobs import JobResult, JobState, JobType
from ..service.logs import MAX_READ_BYTES, LogStream
from .keystone import TOKENS, AuthRequest
from .logs import LOG
from .sahara import SAHARA as _SAHARA
from .sahara import SAHARA_SORT, SaharaUpdate
from .v2 import JOBS as _JOBS
from .v2 import MAX_PAGE_SIZE, BatchDeleteRequest, SubmitRequest
from .v11 import SubmitV11Request, V11State

#: (method, path) -> the model of the JSON body the route reads.
BODIES: dict[tuple[str, str], type[BaseModel]] = {
    ("post", _JOBS): SubmitRequest,
    ("post", _JOBS + "/batch-delete"): BatchDeleteRequest,
    ("post", "/v1.1/{project_id}/jobs/submit-job"): SubmitV11Request,
    ("patch", _SAHARA + "/{job_execution_id}"): SaharaUpdate,
    ("post", TOKENS): AuthRequest,
}


def _query(name: str, schema: dict[str, Any], *, required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "schema": schema}


def _text(max_length: int) -> dict[str, Any]:
    return {"type": "string", "maxLength": max_length}


def _int(low: int, high: int) -> dict[str, Any]:
    return {"type": "integer", "minimum": low, "maximum": high}


def _enum(values: list[Any], kind: str = "string") -> dict[str, Any]:
    return {"type": kind, "enum": values}


#: (method, path) -> the query parameters the route reads from ``request.query_params``.
QUERIES: dict[tuple[str, str], list[dict[str, Any]]] = {
    ("get", _JOBS): [
        _query("job_name", _text(128)), _query("job_id", _text(64)),
        _query("user", _text(32)), _query("job_type", _enum([t.value for t in JobType])),
        _query("job_state", _enum([s.value for s in JobState])),
        _query("job_result", _enum([r.value for r in JobResult])),
        _query("queue", _text(64)),
        _query("submitted_time_begin", _int(0, 2**63 - 1)),
        _query("submitted_time_end", _int(0, 2**63 - 1)),
        _query("limit", _int(1, MAX_PAGE_SIZE)), _query("offset", _int(1, 2**31)),
        _query("sort_by", _enum(["asc", "desc"])),
    ],
    ("get", "/v1.1/{project_id}/job-exes"): [
        _query("cluster_id", _text(64), required=True),
        _query("state", _enum([int(s) for s in V11State], "integer")),
        _query("job_name", _text(64)), _query("id", _text(64)),
        _query("page_size", _int(1, 100)), _query("current_page", _int(1, 2**31)),
    ],
    ("get", LOG): [
        _query("type", _enum([s.value for s in LogStream])),
        _query("offset", _int(0, 2**62)), _query("limit", _int(1, MAX_READ_BYTES)),
        _query("follow", _enum(["true", "false"])),
    ],
    ("get", _SAHARA): [
        _query("limit", _int(1, 1_073_741_822)), _query("marker", _text(64)),
        _query("sort_by", _enum([p + f for f in SAHARA_SORT for p in ("", "-")])),
    ],
}


def describe(app: FastAPI) -> None:
    """Serve :func:`openapi_document` as ``app``'s document, made once when first asked."""
    made: list[dict[str, Any]] = []

    def openapi() -> dict[str, Any]:
        if not made:
            made.append(openapi_document(app))
        return made[0]

    app.openapi = openapi  # type: ignore[method-assign]


def openapi_document(app: FastAPI) -> dict[str, Any]:
    """The document of ``app``'s routes, with :data:`BODIES` and :data:`QUERIES`."""
    doc = get_openapi(title=app.title, version=app.version, routes=app.routes)
    schemas: dict[str, Any] = doc.setdefault("components", {}).setdefault("schemas", {})
    paths = doc["paths"]
    for (method, path), model in BODIES.items():
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
        paths[path][method]["requestBody"] = {
            "required": True,
            "content": {"application/json": {
                "schema": {"$ref": f"#/components/schemas/{model.__name__}"}}},
        }
    for (method, path), params in QUERIES.items():
        paths[path][method].setdefault("parameters", []).extend(params)
    return doc
