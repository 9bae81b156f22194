"""Real MapReduce jobs: RunJar + the LocalJobRunner on Spark's Hadoop client jars."""

from __future__ import annotations

import subprocess
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from mrsjobs.engines.local.mapreduce import mapreduce_argv

pytestmark = pytest.mark.spark

JOB_TIMEOUT_S = 120.0

TEXT = {
    "a.txt": "the quick brown fox\njumps over the lazy dog\n",
    "b.txt": "The dog barks\nthe fox runs  away\n\n",
}
EXPECTED = {
    "the": 3, "The": 1, "fox": 2, "dog": 2, "quick": 1, "brown": 1, "jumps": 1,
    "over": 1, "lazy": 1, "barks": 1, "runs": 1, "away": 1,
}


@pytest.fixture
def input_dir(tmp_path: Path) -> Path:
    d = tmp_path / "input"
    d.mkdir()
    for name, text in TEXT.items():
        (d / name).write_text(text, encoding="utf-8")
    return d


def run_job(java: str, spark_home: Path, jar: str, args: Sequence[str], work_dir: Path,
            properties: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the job as the service would: cwd is its run directory."""
    work_dir.mkdir(parents=True, exist_ok=True)
    argv = mapreduce_argv(java=java, spark_home=spark_home, jar=jar, args=args,
                          properties=properties or {}, work_dir=work_dir)
    # On timeout subprocess.run kills the JVM (our direct child) and reaps it.
    return subprocess.run(argv, cwd=work_dir, capture_output=True, text=True,
                          timeout=JOB_TIMEOUT_S, check=False)


def word_counts(out: Path) -> tuple[Counter[str], list[str]]:
    """The counts in a job's output directory, and its part files."""
    parts = sorted(p.name for p in out.glob("part-r-*"))
    counts: Counter[str] = Counter()
    for name in parts:
        for line in (out / name).read_text(encoding="utf-8").splitlines():
            word, count = line.split("\t")
            assert word not in counts, f"{word!r} in two part files"
            counts[word] = int(count)
    return counts, parts


def test_expected_counts_match_the_text() -> None:
    assert Counter(w for t in TEXT.values() for w in t.split()) == EXPECTED


def test_wordcount(java: str, spark_home: Path, wordcount_jar: Path, input_dir: Path,
                   tmp_path: Path) -> None:
    work = tmp_path / "run"
    proc = run_job(java, spark_home, wordcount_jar.as_uri(), [str(input_dir), "out"], work)

    assert proc.returncode == 0, proc.stderr
    out = work / "out"  # relative to the job's working directory
    assert (out / "_SUCCESS").is_file()
    counts, parts = word_counts(out)
    assert parts == ["part-r-00000"]
    assert counts == EXPECTED
    assert "completed successfully" in proc.stderr
    # Hadoop's scratch space was the job's own, not /tmp/hadoop-$USER.
    scratch = work / ".hadoop"
    assert (scratch / "tmp" / "mapred" / "staging").is_dir()
    assert (scratch / "tmp" / "mapred" / "local" / "localRunner").is_dir()
    assert list((scratch / "java-tmp").iterdir()) == []  # RunJar removed the unpacked jar


@pytest.mark.parametrize(("extra_args", "reducers"), [
    pytest.param([], 2, id="properties"),
    pytest.param(["-D", "mapreduce.job.reduces=3"], 3, id="generic-option-overrides"),
])
def test_properties_reach_the_job(java: str, spark_home: Path, wordcount_jar: Path,
                                  input_dir: Path, tmp_path: Path, extra_args: list[str],
                                  reducers: int) -> None:
    out = tmp_path / "out"
    proc = run_job(java, spark_home, str(wordcount_jar), [*extra_args, str(input_dir), str(out)],
                   tmp_path / "run", properties={"mapreduce.job.reduces": "2",
                                                 "mapreduce.task.io.sort.mb": "16"})

    assert proc.returncode == 0, proc.stderr
    counts, parts = word_counts(out)
    assert parts == [f"part-r-{i:05d}" for i in range(reducers)]
    assert counts == EXPECTED


def test_missing_output_argument_fails(java: str, spark_home: Path, wordcount_jar: Path,
                                       input_dir: Path, tmp_path: Path) -> None:
    proc = run_job(java, spark_home, str(wordcount_jar), [str(input_dir)], tmp_path / "run")

    assert proc.returncode != 0
    assert "Usage: wordcount" in proc.stderr


def test_bad_input_path_fails(java: str, spark_home: Path, wordcount_jar: Path,
                              tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = run_job(java, spark_home, str(wordcount_jar), [str(tmp_path / "nope"), str(out)],
                   tmp_path / "run")

    assert proc.returncode != 0
    assert "Input path does not exist" in proc.stderr
    assert not (out / "_SUCCESS").exists()


def test_missing_jar_fails(java: str, spark_home: Path, tmp_path: Path) -> None:
    missing = tmp_path / "missing.jar"
    proc = run_job(java, spark_home, missing.as_uri(), ["in", "out"], tmp_path / "run")

    assert proc.returncode != 0
    assert f"JAR does not exist or is not a normal file: {missing}" in proc.stderr
