from __future__ import annotations

from typing import Any

import pytest

from mrsjobs.api.v2 import submit_spec
from mrsjobs.domain.errors import InvalidParameter
from mrsjobs.domain.jobs import JobType


def body(**fields: Any) -> dict[str, Any]:
    return {"job_type": "SparkSubmit", "job_name": "job_1",
            "arguments": ["hdfs:///app.py"]} | fields


def test_valid_body_becomes_a_spec() -> None:
    spec = submit_spec(body(properties={"fs.obs.endpoint": "x"}, extra="ignored"))
    assert (spec.name, spec.type, spec.arguments) == ("job_1", JobType.SPARK_SUBMIT,
                                                         ("hdfs:///app.py",))
    assert spec.properties == {"fs.obs.endpoint": "x"}


def test_spark_python_is_accepted_as_spark_submit() -> None:
    assert submit_spec(body(job_type="SparkPython")).type is JobType.SPARK_SUBMIT


def test_official_examples_with_semicolons_and_dollars_pass() -> None:
    sql = "DROP TABLE IF EXISTS t;create table t(line string);insert into t values('$v1')"
    assert submit_spec(body(job_type="HiveSql", arguments=[sql])).arguments == (sql,)


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"job_name": ""}, "job_name", "at least 1"),
        ({"job_name": "a" * 65}, "job_name", "at most 64"),
        ({"job_name": "bad name"}, "job_name", "pattern"),
        ({"job_name": 7}, "job_name", "string"),
        ({"job_type": "Pig"}, "job_type", "one of MapReduce"),
        ({"arguments": "app.py"}, "arguments", "list"),
        ({"arguments": ["a", 1]}, "arguments.1", "string"),
        ({"arguments": ["x" * 150_001]}, "arguments", "longer than 150000"),
        ({"arguments": []}, "arguments", "must name the application"),
        ({"properties": {"k": "a>b"}}, "properties.k", "must not contain"),
        ({"properties": {"k": "v" * 2048}}, "properties", "longer than 2048"),
        ({"properties": ["k"]}, "properties", "dictionary"),
        ({"job_type": "MapReduce", "arguments": []}, "arguments", "the job jar"),
        ({"job_type": "SparkSql", "arguments": ["k", "SELECT 1"]}, "arguments", "pairs"),
        ({"job_type": "SparkSql", "arguments": []}, "arguments", "SQL text"),
        ({"job_type": "SparkScript", "arguments": ["hdfs:///x.txt"]}, "arguments", ".sql"),
        ({"job_type": "DistCp", "arguments": ["/a"]}, "arguments", "source and a target"),
    ],
)
def test_bad_input_names_the_field(fields: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(InvalidParameter) as err:
        submit_spec(body(**fields))
    assert err.value.code == "12000002"
    assert err.value.field == field
    assert words in err.value.message


@pytest.mark.parametrize("missing", ["job_type", "job_name"])
def test_required_fields(missing: str) -> None:
    raw = body()
    del raw[missing]
    with pytest.raises(InvalidParameter, match=f"{missing}: is required"):
        submit_spec(raw)


@pytest.mark.parametrize("raw", [None, [], "text", 3])
def test_body_must_be_an_object(raw: Any) -> None:
    with pytest.raises(InvalidParameter, match="body: must be a JSON object"):
        submit_spec(raw)
