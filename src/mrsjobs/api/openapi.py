"""The OpenAPI document at ``/openapi.json``: FastAPI's, plus what the routes read by
hand (the JSON bodies, through :data:`mrsjobs.api.deps.JsonBody`, and the list routes'
query parameters), what they answer (:mod:`.responses`: statuses, bodies, each API's
error envelope, the request-id header) and how callers authenticate, so that clients
and fuzzers see the whole API as it is."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from ..domain.clusters import CLUSTER_STATES
from ..domain.jobs import JobResult, JobState, JobType
from ..service.logs import MAX_READ_BYTES, LogStream
from .clusters import CLUSTER_INFOS
from .keystone import TOKENS, AuthRequest
from .logs import LOG
from .responses import (
    ENVELOPE_OF,
    ERRORS,
    EXTRA_ERRORS,
    LOG_EVENT,
    LOG_HEADERS,
    OPEN,
    PROXIED,
    SCHEMAS,
    SUBJECT_TOKEN,
    SUCCESS,
    TEXT,
    Schema,
    ref,
)
from .sahara import SAHARA as _SAHARA
from .sahara import SAHARA_SORT, SaharaUpdate
from .spark_ui import COOKIE, SPARK_UI
from .v2 import JOBS as _JOBS
from .v2 import MAX_PAGE_SIZE, BatchDeleteRequest, SubmitRequest
from .v11 import V11_TYPES, SubmitV11Request, V11State

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
    # What the routes check by hand beyond their models' types.
    schemas["SubmitV11Request"]["properties"]["job_type"]["enum"] = sorted(V11_TYPES)
    for param in paths[CLUSTER_INFOS]["get"]["parameters"]:
        if param["name"] == "clusterState":
            param["schema"] = {"enum": list(CLUSTER_STATES)}
    # Errors answer 400 in their API's envelope, never FastAPI's 422 (see errors.install).
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    schemas.update(SCHEMAS)
    used = {name for operations in paths.values() for operation in operations.values()
            for need in operation.get("security", []) for name in need}
    # The operator's scheme only where /metrics asks for it (MRSJOBS_METRICS=token).
    doc["components"]["securitySchemes"] = {
        name: scheme for name, scheme in SECURITY_SCHEMES.items()
        if name in used or name != "operator"}
    for path, operations in paths.items():
        for method, operation in operations.items():
            operation["tags"] = [tag_of(path)]
            if (method, path) not in SUCCESS:
                continue  # an operator's route (/metrics): it says what it answers
            operation["responses"] = responses(method, path)
            if (method, path) not in OPEN:
                operation["security"] = [{"token": []}, {"aksk": []}]
            if path == SPARK_UI:
                operation["security"].append({"cookie": []})
            if path == TOKENS and method != "post":
                operation.setdefault("parameters", []).append({
                    "name": "X-Subject-Token", "in": "header", "required": True,
                    "schema": {"type": "string"}, "description": "The token to check."})
    return doc


SECURITY_SCHEMES: dict[str, Schema] = {
    "token": {"type": "apiKey", "in": "header", "name": "X-Auth-Token",
              "description": "A token from POST /v3/auth/tokens (its X-Subject-Token) or "
                             "from `mrsjobs token create`."},
    "aksk": {"type": "apiKey", "in": "header", "name": "Authorization",
             "description": "AK/SK signing as Huawei Cloud's SDKs do it: "
                            "`SDK-HMAC-SHA256 Access=AK, SignedHeaders=..., Signature=...`, "
                            "an HMAC-SHA256 under the secret key of the canonical request "
                            "(method, path, query, signed headers, SHA-256 of the body), "
                            "with X-Sdk-Date (within the signature window) and "
                            "X-Project-Id signed."},
    "cookie": {"type": "apiKey", "in": "cookie", "name": COOKIE,
               "description": "The token, for a running job's Spark UI only (which a "
                              "browser opens without X-Auth-Token): set by the UI's "
                              "answer to a request with X-Auth-Token, for that job's UI "
                              "path, HttpOnly, SameSite=Strict."},
    "operator": {"type": "http", "scheme": "bearer",
                 "description": "The operator's token (MRSJOBS_METRICS_TOKEN), for "
                                "/metrics when MRSJOBS_METRICS=token."},
}

def tag_of(path: str) -> str:
    """The API a path belongs to, as the documentation page groups them."""
    if path.startswith(_SAHARA):
        return "Sahara job executions (v1.1)"
    if path.endswith("/files"):
        return "File area (v2)"
    if "/cluster_infos" in path:
        return "Clusters (v1.1)"
    if path.startswith("/v2/"):
        return "Job executions (v2)"
    if path.startswith("/v1.1/"):
        return "Job executions (v1.1)"
    if path == "/metrics":
        return "Operators"
    return "Keystone (identity)"


_REQUEST_ID = {"X-Request-Id": {"required": True, "schema": {"type": "string"},
                                "description": "Names the request in the service's logs."}}


def _envelope(path: str) -> str:
    return next((name for prefix, name in ENVELOPE_OF.items() if path.startswith(prefix)),
                "MrsError")


def responses(method: str, path: str) -> dict[str, Any]:
    """What ``method path`` answers: its success and its API's errors."""
    status, body = SUCCESS[(method, path)]
    success: dict[str, Any] = {"description": "Success.", "headers": dict(_REQUEST_ID)}
    if (method, path) in TEXT:
        success["content"] = {"text/plain": {"schema": body},
                              "text/event-stream": {"schema": LOG_EVENT}}
        success["headers"].update(LOG_HEADERS)
    elif (method, path) in PROXIED:
        success["content"] = {"*/*": {"schema": body}}
    elif body is not None:
        success["content"] = {"application/json": {"schema": body}}
    if (method, path) in SUBJECT_TOKEN:
        success["headers"]["X-Subject-Token"] = {"required": True,
                                                 "schema": {"type": "string"}}
    errors = ERRORS | next((extra for prefix, extra in EXTRA_ERRORS.items()
                            if path.startswith(prefix)), {})
    envelope = {"application/json": {"schema": ref(_envelope(path))}}
    answers = {str(status): success}
    for code, text in sorted(errors.items()):
        headers = dict(_REQUEST_ID)
        if code == 429:
            headers["Retry-After"] = {"required": True, "schema": {"type": "integer"}}
        answers[str(code)] = {"description": text, "headers": headers,
                              "content": {} if method == "head" else envelope}
    return answers
