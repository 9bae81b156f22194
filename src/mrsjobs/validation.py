"""Request validation: raw JSON in, a :class:`JobSpec` or an :class:`InvalidParameter` out.

The limits are the MRS reference's. Arguments are checked leniently for
characters (official examples contain ``;`` and ``$``, and no shell ever sees
them: every job is started from an argv list).
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from .domain import SQL_FILE_TYPES, SQL_TEXT_TYPES, JobSpec, JobType
from .errors import InvalidParameter

MAX_ARGUMENTS_CHARS = 150_000
MAX_PROPERTIES_CHARS = 2048
PROPERTY_FORBIDDEN = set("><|'`&!\\")

M = TypeVar("M", bound=BaseModel)

JobName = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
]


class SubmitRequest(BaseModel):
    """The v2 ``JobExecution`` body."""

    model_config = ConfigDict(extra="ignore")

    job_type: JobType
    job_name: JobName
    arguments: list[str] = Field(default_factory=list)
    properties: dict[str, str] = Field(default_factory=dict)


class BatchDeleteRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    job_id_list: Annotated[list[Annotated[str, StringConstraints(min_length=1, max_length=64)]],
                           Field(min_length=1, max_length=1000)]


def _first_error(exc: ValidationError) -> InvalidParameter:
    err = exc.errors()[0]
    field = ".".join(str(p) for p in err["loc"]) or "body"
    if err["type"] == "missing":
        return InvalidParameter(field, "is required")
    if err["type"] == "enum":
        allowed = ", ".join(t.value for t in JobType)
        return InvalidParameter(field, f"must be one of {allowed}")
    return InvalidParameter(field, str(err["msg"]))


def parse_model(model: type[M], raw: Any) -> M:
    if not isinstance(raw, dict):
        raise InvalidParameter("body", "must be a JSON object")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise _first_error(exc) from None


def submit_spec(raw: Any) -> JobSpec:
    """Validate a v2 submit body and apply the per-type argument rules."""
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
    _check_arguments(req.job_type, args)
    return JobSpec(req.job_name, req.job_type.stored, args, dict(req.properties))


def _check_arguments(job_type: JobType, args: tuple[str, ...]) -> None:
    if job_type in (JobType.MAP_REDUCE, JobType.SPARK_SUBMIT, JobType.SPARK_PYTHON):
        if not args or not args[0].strip():
            what = "the job jar" if job_type is JobType.MAP_REDUCE else "the application"
            raise InvalidParameter("arguments", f"must name {what}")
    elif job_type in SQL_TEXT_TYPES or job_type in SQL_FILE_TYPES:
        if not args or not args[-1].strip():
            what = "SQL text" if job_type in SQL_TEXT_TYPES else "the path of a .sql file"
            raise InvalidParameter("arguments", f"the last argument must be {what}")
        if len(args) % 2 == 0:
            raise InvalidParameter(
                "arguments", "options before the SQL must come in key/value pairs"
            )
        if job_type in SQL_FILE_TYPES and not args[-1].endswith(".sql"):
            raise InvalidParameter("arguments", "the script path must end with .sql")
    elif job_type is JobType.DIST_CP and len(args) != 2:
        raise InvalidParameter("arguments", "DistCp takes a source and a target path")
