from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from mrsjobs.api.sahara import SaharaStatus, sahara_status
from mrsjobs.api.v11 import (
    V11_STATE_MEANS,
    V11FinalStatus,
    V11State,
    decode_hql,
    encode_hql,
    submit_v11_spec,
    v11_final_status,
    v11_state,
)
from mrsjobs.domain.errors import InvalidParameter, JarPathRequired, ScriptPathRequired
from mrsjobs.domain.jobs import RESULT_OF, Job, JobResult, JobState, JobType

JOB = Job(id="j", project_id="p", cluster_id="c", name="n", type=JobType.SPARK_SUBMIT,
          user="u", queue="default", arguments=(), properties={}, state=JobState.ACCEPTED,
          result=JobResult.UNDEFINED, progress=0.0, submitted_ms=1)


@pytest.mark.parametrize(
    ("state", "result", "kill", "v11", "final", "sahara"),
    [
        (JobState.ACCEPTED, JobResult.UNDEFINED, None, 1, 0, "PENDING"),
        (JobState.RUNNING, JobResult.UNDEFINED, None, 2, 0, "RUNNING"),
        (JobState.RUNNING, JobResult.UNDEFINED, 5, 2, 0, "TOBEKILLED"),
        (JobState.FINISHED, JobResult.SUCCEEDED, None, 3, 2, "SUCCEEDED"),
        (JobState.FINISHED, JobResult.FAILED, None, 4, 1, "FAILED"),
        (JobState.FAILED, JobResult.FAILED, None, 5, 1, "FAILED"),
        (JobState.KILLED, JobResult.KILLED, 5, -1, 3, "KILLED"),
    ],
)
def test_codes_follow_the_domain_state(state: JobState, result: JobResult, kill: int | None,
                                       v11: int, final: int, sahara: str) -> None:
    job = replace(JOB, state=state, result=result, kill_requested_ms=kill)
    assert (v11_state(job), v11_final_status(job), sahara_status(job)) == (
        V11State(v11), V11FinalStatus(final), SaharaStatus(sahara))


def test_every_state_and_result_has_exactly_one_v11_state() -> None:
    for state, results in RESULT_OF.items():
        for result in results:
            job = replace(JOB, state=state, result=result)
            matches = [code for code, (states, want) in V11_STATE_MEANS.items()
                       if state in states and want in (None, result)]
            assert matches == [v11_state(job)]


def test_hql_uses_mrs_base64_with_a_leading_letter() -> None:
    assert encode_hql("show tables;") == "gc2hvdyB0YWLsZXM7"
    assert decode_hql("gc2hvdyB0YWLsZXM7") == "show tables;"
    sql = "SELECT 'J', 'L' FROM t WHERE x > 1;"
    assert decode_hql(encode_hql(sql, lead="Q")) == sql
    for bad in ("", "g", "9abc", "g!!!"):
        with pytest.raises(ValueError):
            decode_hql(bad)


def v11_body(**fields: Any) -> dict[str, Any]:
    return {"job_type": 2, "job_name": "j", "cluster_id": "c", "jar_path": "hdfs:///x.jar"} | fields


def test_v11_spark_arguments_become_spark_submit_arguments() -> None:
    cluster, spec = submit_v11_spec(v11_body(arguments="--driver-memory 1g a.B 'two words'",
                                             input="hdfs:///in", output="hdfs:///out"))
    assert cluster == "c" and spec.type is JobType.SPARK_SUBMIT
    assert spec.arguments == ("--driver-memory", "1g", "--class", "a.B", "hdfs:///x.jar",
                              "two words", "hdfs:///in", "hdfs:///out")
    assert spec.submission.output == "hdfs:///out"


def test_v11_types_map_to_job_specs() -> None:
    assert submit_v11_spec(v11_body(job_type=1, arguments="wordcount"))[1].arguments == (
        "hdfs:///x.jar", "wordcount")
    script = submit_v11_spec(v11_body(job_type=6, hive_script_path="hdfs:///q.sql"))[1]
    assert (script.type, script.arguments) == (JobType.SPARK_SCRIPT, ("hdfs:///q.sql",))
    sql = submit_v11_spec(v11_body(job_type=7, hql=encode_hql("SELECT 1")))[1]
    assert (sql.type, sql.arguments) == (JobType.SPARK_SQL, ("SELECT 1",))


@pytest.mark.parametrize(
    ("fields", "error", "code"),
    [
        ({"jar_path": ""}, JarPathRequired, "12000081"),
        ({"job_type": 1, "jar_path": ""}, JarPathRequired, "12000081"),
        ({"job_type": 3}, ScriptPathRequired, "12000114"),
        ({"job_type": 6, "hive_script_path": "hdfs:///q.txt"}, InvalidParameter, "12000002"),
        ({"job_type": 8}, InvalidParameter, "12000002"),
        ({"job_type": 7}, InvalidParameter, "12000002"),
        ({"job_type": 7, "hql": "g%%%"}, InvalidParameter, "12000002"),
        ({"jar_path": "s3a://bucket/x.jar"}, InvalidParameter, "12000002"),
        ({"jar_path": "/x.jar;rm"}, InvalidParameter, "12000002"),
        ({"arguments": "unbalanced 'quote"}, InvalidParameter, "12000002"),
        ({"cluster_id": ""}, InvalidParameter, "12000002"),
    ],
)
def test_v11_bad_input(fields: dict[str, Any], error: type[Exception], code: str) -> None:
    with pytest.raises(error) as err:
        submit_v11_spec(v11_body(**fields))
    assert getattr(err.value, "code", None) == code
