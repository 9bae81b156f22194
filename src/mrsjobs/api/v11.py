"""The MRS v1.1 job API: submit-job and the job-exes, jobs addressed by project and id.

Its integer codes are computed from a job's (state, result), never stored, so the APIs
can never disagree about a job. Its errors wear MRS's envelope.
"""

from __future__ import annotations

import base64
import binascii
import re
import shlex
from collections.abc import Mapping, Sequence
from enum import IntEnum
from pathlib import PurePosixPath
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, StrictInt, StringConstraints

from ..domain.diagnostics import diagnostics
from ..domain.errors import (
    InvalidParameter,
    JarPathRequired,
    JobTypeNotSupported,
    ScriptPathRequired,
)
from ..domain.jobs import (
    PRE_LAUNCH,
    SQL_FILE_TYPES,
    SQL_TEXT_TYPES,
    Job,
    JobQuery,
    JobResult,
    JobSpec,
    JobState,
    JobType,
    V11Submission,
    split_spark_options,
)
from ..domain.options import PathRef, check_hadoop_arguments, check_spark_submit, check_sql_options
from ..domain.submit import SUBMISSION_PATHS, job_path
from .deps import JobId, JsonBody, ProjectId, service, who
from .errors import ApiRoute
from .wire import MAX_ARGUMENTS, MAX_ARGUMENTS_CHARS, JobName, parse_model, query_int, query_text

router = APIRouter(route_class=ApiRoute)

# -- codes --------------------------------------------------------------------------------


class V11State(IntEnum):
    """The v1.1 ``job_state``."""

    TERMINATED = -1
    STARTING = 1
    RUNNING = 2
    COMPLETED = 3
    ABNORMAL = 4
    ERROR = 5


class V11FinalStatus(IntEnum):
    """The v1.1 ``job_final_status``."""

    UNFINISHED = 0
    FAILED = 1
    SUCCEEDED = 2
    CANCELED = 3


#: v1.1 ``job_type`` integer <-> job type.
V11_TYPES: Mapping[int, JobType] = {
    1: JobType.MAP_REDUCE,
    2: JobType.SPARK_SUBMIT,
    3: JobType.HIVE_SCRIPT,
    4: JobType.HIVE_SQL,
    5: JobType.DIST_CP,
    6: JobType.SPARK_SCRIPT,
    7: JobType.SPARK_SQL,
}
V11_TYPE_CODE: Mapping[JobType, int] = {t: code for code, t in V11_TYPES.items()}

#: v1.1 ``job_state`` -> the (states, result) it stands for; the list filter uses it.
V11_STATE_MEANS: Mapping[V11State, tuple[frozenset[JobState], JobResult | None]] = {
    V11State.TERMINATED: (frozenset({JobState.KILLED}), None),
    V11State.STARTING: (PRE_LAUNCH, None),
    V11State.RUNNING: (frozenset({JobState.RUNNING}), None),
    V11State.COMPLETED: (frozenset({JobState.FINISHED}), JobResult.SUCCEEDED),
    V11State.ABNORMAL: (frozenset({JobState.FINISHED}), JobResult.FAILED),
    V11State.ERROR: (frozenset({JobState.FAILED}), None),
}


def v11_state(job: Job) -> V11State:
    for code, (states, result) in V11_STATE_MEANS.items():
        if job.state in states and result in (None, job.result):
            return code
    raise AssertionError(f"no v1.1 state for {job.state}/{job.result}")  # pragma: no cover


def v11_final_status(job: Job) -> V11FinalStatus:
    return {
        JobResult.UNDEFINED: V11FinalStatus.UNFINISHED,
        JobResult.SUCCEEDED: V11FinalStatus.SUCCEEDED,
        JobResult.FAILED: V11FinalStatus.FAILED,
        JobResult.KILLED: V11FinalStatus.CANCELED,
    }[job.result]


# MRS encodes v1.1 ``hql`` with standard Base64 whose alphabet has J and L swapped,
# behind one arbitrary leading letter.
_MRS_TO_STD = bytes.maketrans(b"JL", b"LJ")


def decode_hql(text: str) -> str:
    """The SQL in a v1.1 ``hql`` field; ValueError if it is not MRS Base64."""
    if len(text) < 2 or not text[0].isalpha():
        raise ValueError("expected a leading letter and Base64 text")
    body = text[1:].encode("ascii", errors="strict").translate(_MRS_TO_STD)
    try:
        return base64.b64decode(body, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise ValueError(str(exc)) from None


def encode_hql(sql: str, lead: str = "g") -> str:
    """The inverse of :func:`decode_hql` (what MRS clients send)."""
    return lead + base64.b64encode(sql.encode()).translate(_MRS_TO_STD).decode()


# -- requests -----------------------------------------------------------------------------

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


def _v11_path(field: str, value: str, read_roots: Sequence[PurePosixPath]) -> str:
    if PATH_FORBIDDEN & set(value):
        bad = "".join(sorted(PATH_FORBIDDEN & set(value)))
        raise InvalidParameter(field, f"must not contain any of {bad!r}")
    return job_path(field, value, read_roots, writable=SUBMISSION_PATHS[field])


def submit_v11_spec(raw: Any, *, read_roots: Sequence[PurePosixPath] = ()
                    ) -> tuple[str, JobSpec]:
    """The cluster id and job spec of a v1.1 submit-job body; files may come from the
    cluster's file area or ``read_roots`` (``output`` and ``job_log``: the area only)."""
    req = parse_model(SubmitV11Request, raw)
    job_type = V11_TYPES.get(req.job_type)
    if job_type is None:
        raise InvalidParameter("job_type", "must be one of 1, 2, 3, 4, 5, 6, 7")
    named = {f: getattr(req, f) for f in SUBMISSION_PATHS if getattr(req, f)}
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
    submission = V11Submission(
        jar_path=req.jar_path, input=req.input, output=req.output, job_log=req.job_log,
        hive_script_path=req.hive_script_path, file_action=req.file_action, hql=req.hql,
        arguments=req.arguments)
    return req.cluster_id, JobSpec(req.job_name, job_type, tuple(args), {}, submission)


def job_exes_query(project_id: str, cluster_id: str, params: Mapping[str, str]) -> JobQuery:
    """A job-exes list query from its query-string parameters (the cluster's given)."""
    state = params.get("state")
    states, result = None, None
    if state:
        try:
            states, result = V11_STATE_MEANS[V11State(int(state))]
        except ValueError:
            raise InvalidParameter("state", "must be one of -1, 1, 2, 3, 4, 5") from None
    return JobQuery(
        project_id=project_id, cluster_id=cluster_id,
        job_name=query_text(params, "job_name", 64), job_id=query_text(params, "id", 64),
        job_states=states, job_result=result,
        limit=query_int(params, "page_size", 10, 1, 100),
        page=query_int(params, "current_page", 1, 1, 2**31))


# -- responses ----------------------------------------------------------------------------


def _s(ms: int | None) -> int | None:
    return None if ms is None else ms // 1000


def _v11_common(job: Job) -> dict[str, Any]:
    sub = job.submission
    return {
        "id": job.id,
        "tenant_id": job.project_id,
        "job_id": job.app_id or "",
        "job_name": job.name,
        "cluster_id": job.cluster_id,
        "group_id": job.id,
        "jar_path": sub.jar_path,
        "input": sub.input,
        "output": sub.output,
        "job_log": sub.job_log,
        "job_type": V11_TYPE_CODE.get(job.type, 0),
        "file_action": sub.file_action,
        "arguments": sub.arguments or " ".join(job.arguments),
        "hql": sub.hql,
        "job_state": int(v11_state(job)),
        "job_final_status": int(v11_final_status(job)),
        "hive_script_path": sub.hive_script_path,
        "create_by": job.user,
        "update_by": job.kill_requested_by or job.user,
        "finished_step": 0,
        "job_main_id": "",
        "job_step_id": "",
        "step_name": "",
        "step_num": 0,
        "task_num": 0,
    }


def return_code(job: Job) -> str | None:
    return None if job.exit_code is None else str(job.exit_code)


def v11_info(job: Job) -> dict[str, str] | None:
    """``info``: why the job is where it is, when there is something to say."""
    said = diagnostics(job)
    return {"diagnostics": said} if said else None


def job_v11_submitted(job: Job) -> dict[str, Any]:
    """The v1.1 submit-job ``job_execution``: times in epoch seconds."""
    return {
        "templated": False,
        "created_at": _s(job.submitted_ms),
        "updated_at": _s(job.updated_ms),
        "input_id": None,
        "output_id": None,
        "start_time": _s(job.started_ms),
        "end_time": _s(job.finished_ms),
        "engine_job_id": None,
        "return_code": return_code(job),
        "is_public": None,
        "is_protected": False,
        "postpone_at": _s(job.submitted_ms),
        "credentials": "",
        "user_id": job.user,
        "job_configs": None,
        "extra": None,
        "data_source_urls": None,
        "info": v11_info(job),
        **_v11_common(job),
    }


def job_v11_exe(job: Job) -> dict[str, Any]:
    """The v1.1 ``JobExeResult``: times in epoch milliseconds, create_at/update_at."""
    spend = None
    if job.started_ms is not None and job.finished_ms is not None:
        spend = (job.finished_ms - job.started_ms) / 1000
    return {
        "create_at": job.submitted_ms,
        "update_at": job.updated_ms,
        "start_time": job.started_ms,
        "end_time": job.finished_ms,
        "postpone_at": job.submitted_ms,
        "spend_time": spend,
        "step_seq": 0,
        "progress": f"{job.progress:g}",
        # Beyond the SDK's JobExeResult, as the submit-job object has them.
        "return_code": return_code(job),
        "info": v11_info(job),
        **_v11_common(job),
    }


# -- routes -------------------------------------------------------------------------------


@router.post("/v1.1/{project_id}/jobs/submit-job")
def submit_job(request: Request, project_id: ProjectId, body: JsonBody) -> JSONResponse:
    caller, jobs = who(request), service(request)
    jobs.authorize_submit(caller, project_id)
    cluster_id, spec = submit_v11_spec(body, read_roots=jobs.read_roots)
    shape = job_v11_submitted(jobs.submit(caller, project_id, cluster_id, spec))
    # Wrapped as the reference shows it, and flat as the Python SDK reads it.
    return JSONResponse({"job_execution": shape, **shape})


@router.get("/v1.1/{project_id}/job-exes")
def list_job_exes(request: Request, project_id: ProjectId) -> JSONResponse:
    caller, jobs = who(request), service(request)
    cluster_id = request.query_params.get("cluster_id")
    if not cluster_id:
        raise InvalidParameter("cluster_id", "is required")
    jobs.authorize(caller, project_id, cluster_id)
    query = job_exes_query(project_id, cluster_id, request.query_params)
    total, found = jobs.list_jobs(caller, query)
    return JSONResponse({"totalRecord": total,
                         "job_executions": [job_v11_exe(j) for j in found]})


@router.get("/v1.1/{project_id}/job-exes/{job_exe_id}")
def show_job_exe(request: Request, project_id: ProjectId, job_exe_id: JobId) -> JSONResponse:
    job = service(request).job_in_project(who(request), project_id, job_exe_id)
    return JSONResponse({"job_execution": job_v11_exe(job)})
