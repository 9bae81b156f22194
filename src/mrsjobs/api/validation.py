"""Request validation: raw JSON in, a :class:`JobSpec` or an :class:`InvalidParameter` out.

The limits are the MRS reference's. Arguments are checked leniently for
characters (official examples contain ``;`` and ``$``, and no shell ever sees
them: every job is started from an argv list). A job may name only files in its
cluster's file area (``hdfs:///...``) or under a read-only root the operator lists,
and may not set what the service enforces (:mod:`mrsjobs.domain.options`).
"""

from __future__ import annotations

import json
import re
import shlex
from collections import deque
from collections.abc import Mapping, Sequence
from pathlib import PurePosixPath
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StringConstraints, ValidationError

from ..domain.errors import (
    InvalidParameter,
    JarPathRequired,
    JobTypeNotSupported,
    ScriptPathRequired,
)
from ..domain.jobs import SQL_FILE_TYPES, SQL_TEXT_TYPES, JobSpec, JobType, split_spark_options
from ..domain.options import (
    PathRef,
    check_hadoop_arguments,
    check_properties,
    check_spark_submit,
    check_sql_options,
)
from ..domain.paths import hdfs_parts, under_root
from .compat import V11_TYPES, decode_hql

MAX_ARGUMENTS_CHARS = 150_000
#: How many arguments (v2 items, v1.1 words) a job may have: a job's command line
#: must fit the kernel's argv limits, however short each argument is.
MAX_ARGUMENTS = 10_000
MAX_PROPERTIES_CHARS = 2048
MAX_PROPERTIES = 1000
#: How deeply the JSON of a request body may nest (objects and arrays).
MAX_JSON_DEPTH = 64
PROPERTY_FORBIDDEN = set("><|'`&!\\")

M = TypeVar("M", bound=BaseModel)

# -- any request body ---------------------------------------------------------------------

#: What no text of a request may hold: NUL (databases refuse it) and UTF-16 surrogates,
#: which JSON decodes to when they are unpaired (no encoder accepts them).
_BAD_CHAR = re.compile("[\x00\ud800-\udfff]")
# In the JSON text: the characters themselves or escapes that may decode to them.
_MAYBE_BAD = re.compile(r"[\x00\ud800-\udfff]|\\u(?:0000|[dD][89a-fA-F])")
# A string (to its end if unterminated: one pass, never a rescan) or a bracket.
_JSON_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?|([\[\]{}])', re.S)


def _printable_name(name: str) -> str:
    return _BAD_CHAR.sub("\ufffd", name)


def check_text(field: str, value: str) -> None:
    """InvalidParameter naming ``field`` if ``value`` has a NUL or an unpaired surrogate."""
    if _BAD_CHAR.search(value):
        raise InvalidParameter(_printable_name(field),
                               "must not contain NUL characters or unpaired surrogates")


def check_strings(value: Any) -> None:
    """Every key and string of a decoded JSON body through :func:`check_text`, each
    named by its place (``arguments[2]``, ``properties.key``)."""
    todo: deque[tuple[str, Any]] = deque([("", value)])
    while todo:
        place, item = todo.popleft()
        if isinstance(item, str):
            check_text(place or "body", item)
        elif isinstance(item, dict):
            for key, member in item.items():
                name = f"{place}.{key}" if place else key
                check_text(name, key)
                todo.append((name, member))
        elif isinstance(item, list):
            todo.extend((f"{place or 'body'}[{i}]", member) for i, member in enumerate(item))


def check_json_depth(text: str, limit: int = MAX_JSON_DEPTH) -> None:
    """InvalidParameter if the JSON ``text`` nests objects and arrays deeper than
    ``limit``, found without decoding it (a decoder recurses once per level)."""
    if text.count("[") + text.count("{") <= limit:
        return
    depth = 0
    for bracket in _JSON_TOKEN.findall(text):
        if not bracket:
            continue
        depth += 1 if bracket in "[{" else -1
        if depth > limit:
            raise InvalidParameter("body", f"is nested deeper than {limit} levels")


def parse_json_body(raw: bytes) -> Any:
    """A request body as JSON (None if empty), in any encoding JSON allows, nested at
    most :data:`MAX_JSON_DEPTH` deep, with no NUL or unpaired surrogate in any string;
    InvalidParameter otherwise."""
    try:
        text = raw.decode(json.detect_encoding(raw), "surrogatepass")
    except (UnicodeDecodeError, LookupError):
        raise InvalidParameter("body", "is not valid JSON") from None
    if not text.strip():
        return None
    check_json_depth(text)
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        raise InvalidParameter("body", "is not valid JSON") from None
    if _MAYBE_BAD.search(text):
        check_strings(value)
    return value

JobName = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
]


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


def _first_error(exc: ValidationError) -> InvalidParameter:
    err = exc.errors()[0]
    field = ".".join(str(p) for p in err["loc"]) or "body"
    if err["type"] == "missing":
        return InvalidParameter(field, "is required")
    if err["type"] == "enum":
        allowed = ", ".join(t.value for t in JobType)
        return InvalidParameter(field, f"must be one of {allowed}")
    if err["type"] == "too_long" and isinstance(err.get("ctx"), dict):
        return InvalidParameter(field, f"has more than {err['ctx']['max_length']} items")
    return InvalidParameter(field, str(err["msg"]))


def parse_model(model: type[M], raw: Any) -> M:
    if not isinstance(raw, dict):
        raise InvalidParameter("body", "must be a JSON object")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise _first_error(exc) from None


def job_path(field: str, value: str, read_roots: Sequence[PurePosixPath], *,
             writable: bool = False) -> str:
    """``value``, if a job may name it: ``hdfs:///...`` (the cluster's file area) or,
    unless the job writes there, an absolute path (plain or ``file://``) under one of
    ``read_roots``; a local path comes back without ``file://``. InvalidParameter naming
    ``field`` otherwise."""
    try:
        parts = hdfs_parts(value)
    except ValueError as exc:
        raise InvalidParameter(field, str(exc)) from None
    if parts is not None:
        return value
    if writable:
        raise InvalidParameter(field, "must be in the cluster's file area (hdfs:///...)")
    if under_root(value, read_roots) is None:
        where = "must be hdfs:///path (the cluster's file area)"
        if read_roots:
            where += (" or an absolute path, without '..' or '%', under a read-only root: "
                      + ", ".join(str(r) for r in read_roots))
        raise InvalidParameter(field, where)
    return value.removeprefix("file://")


def _check_job(job_type: JobType, args: tuple[str, ...], properties: Mapping[str, str],
               read_roots: Sequence[PurePosixPath]) -> None:
    """What the job may not set, and the files it names (see :mod:`mrsjobs.domain.options`).
    The application's own arguments are its business."""
    refs = check_properties(properties)
    if job_type in (JobType.SPARK_SUBMIT, JobType.SPARK_PYTHON):
        refs += check_spark_submit(args)
    elif job_type in SQL_TEXT_TYPES or job_type in SQL_FILE_TYPES:
        refs += check_sql_options(args[:-1])
        if job_type in SQL_FILE_TYPES:
            refs.append(PathRef("arguments.script", args[-1]))
    elif job_type is JobType.MAP_REDUCE:
        check_hadoop_arguments(args[1:])
        refs.append(PathRef("arguments.jar", args[0]))
    for ref in refs:
        job_path(ref.field, ref.value, read_roots)


def submit_spec(raw: Any, *, read_roots: Sequence[PurePosixPath] = ()) -> JobSpec:
    """Validate a v2 submit body and apply the per-type argument rules; files may come
    from the cluster's file area or ``read_roots``."""
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
    _check_job(req.job_type, args, req.properties, read_roots)
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


# -- v1.1 submit-job ---------------------------------------------------------------------

PathText = Annotated[str, StringConstraints(max_length=1023)]
PATH_FORBIDDEN = set(";|&><'$")
# A Java class name: what MRS v1.1 Spark arguments start with before the app's own.
JAVA_CLASS = re.compile(r"^[A-Za-z_$][\w$]*(\.[A-Za-z_$][\w$]*)+$")


class SubmitV11Request(BaseModel):
    """The v1.1 ``SubmitJobReqV11`` body."""

    model_config = ConfigDict(extra="ignore")

    # Strict: neither true nor "2" is a job type.
    job_type: StrictInt
    job_name: JobName
    cluster_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    jar_path: PathText = ""
    arguments: Annotated[str, StringConstraints(max_length=MAX_ARGUMENTS_CHARS)] = ""
    input: PathText = ""
    output: PathText = ""
    job_log: PathText = ""
    hive_script_path: PathText = ""
    file_action: str = ""
    hql: str = ""


V11_PATHS = ("jar_path", "input", "output", "job_log", "hive_script_path")
#: v1.1 path fields the job or the service writes to: the file area is the only place.
V11_WRITTEN = frozenset({"output", "job_log"})


def _v11_path(field: str, value: str, read_roots: Sequence[PurePosixPath]) -> str:
    if PATH_FORBIDDEN & set(value):
        bad = "".join(sorted(PATH_FORBIDDEN & set(value)))
        raise InvalidParameter(field, f"must not contain any of {bad!r}")
    return job_path(field, value, read_roots, writable=field in V11_WRITTEN)


def submit_v11_spec(raw: Any, *, read_roots: Sequence[PurePosixPath] = ()
                    ) -> tuple[str, JobSpec]:
    """The cluster id and job spec of a v1.1 submit-job body; files may come from the
    cluster's file area or ``read_roots`` (``output`` and ``job_log``: the area only)."""
    req = parse_model(SubmitV11Request, raw)
    job_type = V11_TYPES.get(req.job_type)
    if job_type is None:
        raise InvalidParameter("job_type", "must be one of 1, 2, 3, 4, 5, 6, 7")
    named = {f: getattr(req, f) for f in V11_PATHS if getattr(req, f)}
    if job_type in (JobType.MAP_REDUCE, JobType.SPARK_SUBMIT) and "jar_path" not in named:
        raise JarPathRequired()
    if job_type in SQL_FILE_TYPES and "hive_script_path" not in named:
        raise ScriptPathRequired()
    paths = {f: _v11_path(f, value, read_roots) for f, value in named.items()}
    try:
        words = shlex.split(req.arguments)
    except ValueError as exc:
        raise InvalidParameter("arguments", f"cannot be split into words: {exc}") from None
    if len(words) > MAX_ARGUMENTS:
        raise InvalidParameter("arguments", f"has more than {MAX_ARGUMENTS} words")
    data = [paths[f] for f in ("input", "output") if f in paths]
    refs: list[PathRef] = []
    if job_type in SQL_FILE_TYPES:
        script = paths["hive_script_path"]
        if not script.endswith(".sql"):
            raise InvalidParameter("hive_script_path", "must end with .sql")
        args: list[str] = [script]
    elif job_type is JobType.MAP_REDUCE:
        check_hadoop_arguments(words)
        args = [paths["jar_path"], *words, *data]
    elif job_type is JobType.SPARK_SUBMIT:
        options, app = split_spark_options(words)
        given = {g[0].split("=", 1)[0] for g in options}
        if (paths["jar_path"].endswith(".jar") and "--class" not in given and app
                and JAVA_CLASS.match(app[0])):
            options.append(["--class", app.pop(0)])
        args = [*(a for g in options for a in g), paths["jar_path"], *app, *data]
        refs = check_spark_submit(args)
    elif job_type is JobType.SPARK_SQL:
        if not req.hql:
            raise InvalidParameter("hql", "is required for Spark SQL jobs (job_type 7)")
        try:
            args = [decode_hql(req.hql)]
        except ValueError as exc:
            raise InvalidParameter("hql", f"is not MRS Base64: {exc}") from None
    elif job_type is JobType.DIST_CP:
        if req.file_action not in ("import", "export"):
            raise InvalidParameter("file_action", "must be import or export for DistCp")
        args = data
    else:
        raise JobTypeNotSupported(
            "HiveQL jobs (job_type 4) cannot be submitted with submit-job: use a Hive "
            "script (job_type 3) or the v2 HiveSql job type.")
    if job_type in SQL_FILE_TYPES or job_type in SQL_TEXT_TYPES:
        refs = check_sql_options(words)  # SQL jobs do not get the words today
    for ref in refs:
        job_path(ref.field, ref.value, read_roots)
    submission = {f: getattr(req, f) for f in
                  ("jar_path", "input", "output", "job_log", "hive_script_path", "file_action",
                   "hql", "arguments") if getattr(req, f)}
    return req.cluster_id, JobSpec(req.job_name, job_type, tuple(args), {}, submission)
