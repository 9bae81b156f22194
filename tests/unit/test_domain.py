from __future__ import annotations

import pytest

from mrsjobs.domain.jobs import (
    PRE_LAUNCH,
    RESULT_OF,
    TERMINAL,
    TRANSITIONS,
    ExitStatus,
    JobResult,
    JobState,
    JobType,
    outcome_of,
)


def test_terminal_states_have_no_way_out() -> None:
    for target, sources in TRANSITIONS.items():
        assert not sources & TERMINAL, f"{target} reachable from a terminal state"


def test_every_state_has_its_results() -> None:
    assert set(RESULT_OF) == set(JobState)
    assert RESULT_OF[JobState.RUNNING] == {JobResult.UNDEFINED}
    for state in TERMINAL:
        assert JobResult.UNDEFINED not in RESULT_OF[state]


def test_pre_launch_jobs_can_be_killed_directly() -> None:
    assert TRANSITIONS[JobState.KILLED] >= PRE_LAUNCH
    assert JobState.RUNNING not in PRE_LAUNCH


def test_spark_python_is_stored_as_spark_submit() -> None:
    assert JobType.SPARK_PYTHON.stored is JobType.SPARK_SUBMIT
    assert JobType.SPARK_SQL.stored is JobType.SPARK_SQL


@pytest.mark.parametrize(
    ("exit", "signalled", "state", "result"),
    [
        (ExitStatus(0, None, 100), None, JobState.FINISHED, JobResult.SUCCEEDED),
        (ExitStatus(1, None, 100), None, JobState.FINISHED, JobResult.FAILED),
        (ExitStatus(None, 9, 100), None, JobState.FINISHED, JobResult.FAILED),
        # Our signal reached it: killed, whatever the exit code says.
        (ExitStatus(143, None, 100), 90, JobState.KILLED, JobResult.KILLED),
        (ExitStatus(0, None, 100), 100, JobState.KILLED, JobResult.KILLED),
        # It ended before the signal went out: its natural end stands.
        (ExitStatus(0, None, 100), 120, JobState.FINISHED, JobResult.SUCCEEDED),
        (ExitStatus(None, None, 100), None, JobState.FAILED, JobResult.FAILED),
        (ExitStatus(None, None, 100), 90, JobState.FAILED, JobResult.FAILED),
    ],
)
def test_outcome_of_exit(exit: ExitStatus, signalled: int | None, state: JobState,
                         result: JobResult) -> None:
    outcome = outcome_of(exit, kill_signalled_ms=signalled)
    assert (outcome.state, outcome.result) == (state, result)
    assert outcome.result in RESULT_OF[outcome.state]
