"""The one-line reason of a job, from its record alone."""

from __future__ import annotations

import dataclasses

from mrsjobs.domain.diagnostics import diagnostics, iso_ms
from mrsjobs.domain.jobs import Job, JobResult, JobState, JobType

T = 1_796_000_000_123  # 2026-11-30T00:53:20.123Z


def job(**fields: object) -> Job:
    base = Job(id="j", project_id="p", cluster_id="c", name="n", type=JobType.SPARK_SUBMIT,
               user="alice", queue="default", arguments=(), properties={},
               state=JobState.RUNNING, result=JobResult.UNDEFINED, progress=0.0,
               submitted_ms=T)
    return dataclasses.replace(base, **fields)  # type: ignore[arg-type]


def test_iso_ms_is_utc_to_the_millisecond() -> None:
    assert iso_ms(T) == "2026-11-30T00:53:20.123Z"


def test_nothing_to_say_for_queued_running_or_succeeded_jobs() -> None:
    assert diagnostics(job(state=JobState.ACCEPTED)) == ""
    assert diagnostics(job()) == ""
    assert diagnostics(job(state=JobState.FINISHED, result=JobResult.SUCCEEDED,
                           exit_code=0)) == ""


def test_the_stored_reason_and_the_exit_code_once() -> None:
    failed = job(state=JobState.FINISHED, result=JobResult.FAILED, exit_code=1,
                 diagnostics="exit code 1")
    assert diagnostics(failed) == "exit code 1"
    signalled = job(state=JobState.FINISHED, result=JobResult.FAILED,
                    diagnostics="terminated by signal 9")
    assert diagnostics(signalled) == "terminated by signal 9"
    lost = job(state=JobState.FAILED, result=JobResult.FAILED,
               diagnostics="instance i-1 stopped beating")
    assert diagnostics(lost) == "instance i-1 stopped beating"
    # An exit code the reason does not mention is added.
    assert diagnostics(dataclasses.replace(lost, exit_code=0)) == (
        "instance i-1 stopped beating; exit code 0")


def test_a_kill_says_who_asked_and_when() -> None:
    asked = job(kill_requested_ms=T, kill_requested_by="bob")
    assert diagnostics(asked) == "kill requested by bob at 2026-11-30T00:53:20.123Z"
    done = dataclasses.replace(asked, state=JobState.KILLED, result=JobResult.KILLED,
                               kill_signalled_ms=T + 1000, diagnostics="killed on request")
    assert diagnostics(done) == ("killed on request; kill requested by bob at "
                                 "2026-11-30T00:53:20.123Z, signalled at "
                                 "2026-11-30T00:53:21.123Z")
