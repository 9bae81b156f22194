"""The v1.1 integer codes and the Sahara status strings, derived from the one domain state.

Nothing here is stored: every code is computed from a job's (state, result), so the
three APIs can never disagree about a job.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from enum import IntEnum, StrEnum

from ..domain.jobs import PRE_LAUNCH, Job, JobResult, JobState, JobType


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


class SaharaStatus(StrEnum):
    """The ``info.status`` of a Sahara job execution."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    TOBEKILLED = "TOBEKILLED"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    KILLED = "KILLED"


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


def sahara_status(job: Job) -> SaharaStatus:
    if job.state in PRE_LAUNCH:
        return SaharaStatus.PENDING
    if job.state is JobState.RUNNING:
        # A stored kill request that the owner has not completed yet.
        return (SaharaStatus.TOBEKILLED if job.kill_requested_ms is not None
                else SaharaStatus.RUNNING)
    return {
        JobResult.SUCCEEDED: SaharaStatus.SUCCEEDED,
        JobResult.FAILED: SaharaStatus.FAILED,
        JobResult.KILLED: SaharaStatus.KILLED,
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
