"""Which lane a cluster's job is dispatched in: the cluster kind's engine lane, if it
has one, takes its job types; every other job is the cluster's own."""

from __future__ import annotations

from pathlib import Path

from mrsjobs.domain.clusters import ClusterEngine
from mrsjobs.domain.jobs import SQL_FILE_TYPES, SQL_TEXT_TYPES, Job, JobType
from mrsjobs.engines.base import EngineLane, LaunchSpec
from mrsjobs.engines.router import CommandsRouter


class NoCommands:
    def launch_spec(self, job: Job, run_dir: Path) -> LaunchSpec:
        raise AssertionError("not launched here")

    def may_block(self, job: Job) -> bool:
        return False

    def finished(self, job: Job, run_dir: Path) -> None:
        pass


SQL = EngineLane(SQL_TEXT_TYPES | SQL_FILE_TYPES, slots=4)


def test_a_lane_takes_its_job_types_only() -> None:
    assert {t for t in JobType if SQL.takes(t)} == {
        JobType.SPARK_SQL, JobType.HIVE_SQL, JobType.SPARK_SCRIPT, JobType.HIVE_SCRIPT}


def test_only_clusters_of_a_kind_with_an_engine_lane_have_one() -> None:
    kinds = {"local": ClusterEngine.LOCAL, "standalone": ClusterEngine.SPARK_STANDALONE}
    asked: list[str] = []

    def engine_of(cluster_id: str) -> ClusterEngine | None:
        asked.append(cluster_id)
        return kinds.get(cluster_id)

    commands = {kind: NoCommands() for kind in ClusterEngine}
    router = CommandsRouter(commands, engine_of, {ClusterEngine.LOCAL: SQL})
    assert router.engine_lane("local") is SQL
    assert router.engine_lane("standalone") is None
    assert router.engine_lane("local") is SQL
    assert asked == ["local", "standalone"], "a cluster's kind is asked once"
    # The SQL engine off: one lane, as every cluster kind without one.
    assert CommandsRouter(commands, engine_of).engine_lane("local") is None
