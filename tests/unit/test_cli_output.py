"""What the client commands print holds text users chose (names, diagnostics) and
states the poll happens to catch: none of it may be read as Rich markup."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from mrsjobs.cli import jobs
from mrsjobs.domain.jobs import JobState


class ScriptedApi:
    """The one call ``wait`` makes, answered from a list of job states in turn."""

    jobs_path = "/v2/p/clusters/c/job-executions"

    def __init__(self, states: list[str], diagnostics: str) -> None:
        self._states: Iterator[str] = iter(states)
        self._diagnostics = diagnostics

    def json(self, method: str, path: str) -> dict[str, Any]:
        state = next(self._states)
        ended = state in jobs.TERMINAL
        return {"job_detail": {"job_state": state,
                               "job_result": "FAILED" if ended else "UNDEFINED",
                               "diagnostics": self._diagnostics if ended else None}}


@pytest.mark.parametrize("state", [s.value for s in JobState])
def test_wait_prints_every_state_and_bracketed_diagnostics_as_they_are(
        state: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(jobs, "WAIT_POLL_S", 0)
    said = "[/] [bold]not markup[/bold] [red"
    api = ScriptedApi([state, "FAILED"], said)

    detail = jobs.wait(api, "job-1")  # type: ignore[arg-type]

    assert detail["job_state"] == (state if state in jobs.TERMINAL else "FAILED")
    printed = capsys.readouterr().err
    assert f"job-1  {state}\n" in printed
    assert f"job-1 FAILED ({said})" in printed
