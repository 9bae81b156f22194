"""The rules a submitted job follows whichever API it came through: the arguments each
job type needs, the files a job may name (:mod:`.paths`) and the options it may not set
(:mod:`.options`). Pure, no I/O; a refusal is an InvalidParameter naming the field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import PurePosixPath

from .errors import InvalidParameter
from .jobs import SQL_FILE_TYPES, SQL_TEXT_TYPES, JobSpec, JobType, V11Submission
from .options import (
    PathRef,
    check_hadoop_arguments,
    check_properties,
    check_spark_submit,
    check_sql_options,
)
from .paths import hdfs_parts, under_root

#: The files a v1.1 submission names -> whether the job (or the service) writes there:
#: a written file must be in the cluster's file area.
SUBMISSION_PATHS: Mapping[str, bool] = {
    "jar_path": False, "input": False, "output": True, "job_log": True,
    "hive_script_path": False,
}


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


def check_arguments(job_type: JobType, args: Sequence[str]) -> None:
    """What each job type needs in its arguments: the application or jar first, the SQL
    (or .sql file) last after key/value option pairs, DistCp's source and target."""
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


def check_spec(spec: JobSpec, read_roots: Sequence[PurePosixPath] = ()) -> None:
    """What ``spec`` may not set, and the files it names (in its arguments, properties
    and v1.1 submission): each in the cluster's file area or under ``read_roots``.
    The application's own arguments are its business."""
    refs = check_properties(spec.properties)
    args = spec.arguments
    if spec.type in (JobType.SPARK_SUBMIT, JobType.SPARK_PYTHON):
        refs += check_spark_submit(args)
    elif spec.type in SQL_TEXT_TYPES or spec.type in SQL_FILE_TYPES:
        refs += check_sql_options(args[:-1])
        if spec.type in SQL_FILE_TYPES and args:
            refs.append(PathRef("arguments.script", args[-1]))
    elif spec.type is JobType.MAP_REDUCE and args:
        check_hadoop_arguments(args[1:])
        refs.append(PathRef("arguments.jar", args[0]))
    for ref in refs:
        job_path(ref.field, ref.value, read_roots)
    check_submission_paths(spec.submission, read_roots)


def check_submission_paths(submission: V11Submission,
                           read_roots: Sequence[PurePosixPath]) -> None:
    for field, writable in SUBMISSION_PATHS.items():
        if value := getattr(submission, field):
            job_path(field, value, read_roots, writable=writable)
