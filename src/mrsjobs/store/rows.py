"""Job rows: a :class:`~mrsjobs.domain.jobs.Job` from its column values, and the values
(and submission audit event) of a new one, inserted in batches."""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Row

from ..domain.clock import now_ms
from ..domain.jobs import NO_SUBMISSION, Job, JobResult, JobSpec, JobState, V11Submission
from . import statements as sql

_SUBMISSION_FIELDS = tuple(f.name for f in dataclasses.fields(V11Submission))


def job_of_row(row: Row[Any]) -> Job:
    return job_of(row._mapping)


def job_of(m: Mapping[Any, Any]) -> Job:
    """A job from its column values (a row, or the values a new one is inserted with)."""
    return Job(
        id=m["id"],
        project_id=m["project_id"],
        cluster_id=m["cluster_id"],
        name=m["name"],
        type=m["type"],
        user=m["user_name"],
        queue=m["queue"],
        arguments=tuple(json.loads(m["arguments"])),
        properties=json.loads(m["properties"]),
        state=m["state"],
        result=m["result"],
        progress=m["progress"],
        submitted_ms=m["submitted_ms"],
        started_ms=m["started_ms"],
        finished_ms=m["finished_ms"],
        kill_requested_ms=m["kill_requested_ms"],
        kill_requested_by=m["kill_requested_by"],
        kill_signalled_ms=m["kill_signalled_ms"],
        kill_attempts=m["kill_attempts"],
        delete_requested=m["delete_requested"],
        owner=m["owner"],
        run_root=m["run_root"],
        launcher_id=m["launcher_id"],
        engine_handle=m["engine_handle"],
        app_id=m["app_id"],
        tracking_url=m["tracking_url"],
        exit_code=m["exit_code"],
        diagnostics=m["diagnostics"],
        submission=submission_of(m["submission"]),
    )


def submission_of(text: str | None) -> V11Submission:
    """A v1.1 submission from its column: JSON of the fields it gave, or NULL."""
    given = json.loads(text) if text else {}
    if not given:
        return NO_SUBMISSION
    return V11Submission(**{k: v for k, v in given.items() if k in _SUBMISSION_FIELDS})


def submission_json(submission: V11Submission) -> str | None:
    """The column value of a v1.1 submission: its non-empty fields as JSON, or NULL."""
    given = {f: v for f in _SUBMISSION_FIELDS if (v := getattr(submission, f))}
    return json.dumps(given) if given else None


#: A job's column values, and the audit event of its submission (or None).
NewJob = tuple[dict[str, Any], dict[str, Any] | None]


def insert_many(conn: Connection, new: Sequence[NewJob]) -> None:
    """Insert jobs, and their audit events, in the caller's transaction. Nothing comes
    back: a new job holds no value the database makes (so no RETURNING, and SQLite's
    and psycopg's own executemany do the work)."""
    conn.execute(sql.INSERT, [values for values, _ in new])
    events = [event for _, event in new if event is not None]
    if events:
        conn.execute(sql.INSERT_AUDIT, events)


def new_job(project_id: str, cluster_id: str, spec: JobSpec, user: str, queue: str,
             audit: Mapping[str, Any] | None) -> NewJob:
    """The row of a new, queued job, and its audit event."""
    job_id = str(uuid.uuid4())
    event = None if audit is None else {**audit, "job_id": job_id}
    values: dict[str, Any] = {
        "id": job_id,
        "project_id": project_id,
        "cluster_id": cluster_id,
        "name": spec.name,
        "type": spec.type,
        "user_name": user,
        "queue": queue,
        "arguments": json.dumps(list(spec.arguments)),
        "properties": json.dumps(dict(spec.properties)),
        "state": JobState.ACCEPTED,
        "result": JobResult.UNDEFINED,
        "progress": 0.0,
        "submitted_ms": now_ms(),
        "started_ms": None,
        "finished_ms": None,
        "kill_requested_ms": None,
        "kill_requested_by": None,
        "kill_signalled_ms": None,
        "kill_attempts": 0,
        "delete_requested": False,
        "owner": None,
        "run_root": None,
        "launcher_id": None,
        "engine_handle": None,
        "app_id": None,
        "tracking_url": None,
        "exit_code": None,
        "diagnostics": None,
        "submission": submission_json(spec.submission),
    }
    return values, event
