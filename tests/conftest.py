"""Fixtures of the tests: servers, databases, and real Spark and Hadoop.

The tools the tests share with the benchmarks live in ``tests.support``."""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest

from tests.databases import BACKENDS, database
from tests.support.server import (
    FAST,
    FIXTURES,
    Server,
    new_server,
    stop_server,
)
from tests.support.spark_cluster import SparkCluster


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under ``pytest -n`` (``--dist loadgroup``) a module's tests stay on one worker,
    so that its module-scoped servers start once, and every module that uses the
    namespaced Spark cluster runs on the same worker: one cluster per run (its
    network's names are fixed)."""
    tests = [item for item in items if isinstance(item, pytest.Function)]
    cluster_modules = {test.module.__name__ for test in tests
                       if "spark_cluster" in test.fixturenames}
    for test in tests:
        if test.get_closest_marker("xdist_group") is None:
            module = test.module.__name__
            group = "spark_cluster" if module in cluster_modules else module
            test.add_marker(pytest.mark.xdist_group(group))


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Start servers on fresh data directories; everything they started is cleaned up."""
    servers: list[Server] = []

    def make(**settings: str) -> Server:
        server = new_server(tmp_path, len(servers), **settings)
        servers.append(server)
        server.start()
        return server

    yield make
    for server in servers:
        stop_server(server)


@pytest.fixture
def fast_server(server_factory: Callable[..., Server]) -> Server:
    """A server whose Spark tools are a trivial script, to test the service alone."""
    return server_factory(**FAST)


@pytest.fixture(params=[
    pytest.param(b, marks=[pytest.mark.postgres] if b == "postgresql" else [])
    for b in BACKENDS])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database on each store backend: SQLite, and the PostgreSQL server."""
    with database(request.param, tmp_path) as url:
        yield url


# -- real Spark and Hadoop --------------------------------------------------------------


def _load_build() -> ModuleType:
    spec = importlib.util.spec_from_file_location("mapreduce_fixture_build",
                                                  FIXTURES / "mapreduce" / "build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def java() -> str:
    found = shutil.which("java")
    if found is None or shutil.which("javac") is None:
        if os.environ.get("CI"):
            pytest.fail("CI needs a JDK (java, javac, jar) for the Spark and Hadoop tests")
        pytest.skip("needs a JDK (java, javac, jar)")
    return found


@pytest.fixture(scope="session")
def spark_home() -> Path:
    pyspark = pytest.importorskip("pyspark")
    return Path(pyspark.__file__).parent


@pytest.fixture(scope="session")
def wordcount_jar(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
                  spark_home: Path, java: str) -> Path:
    """The fixture job, rebuilt only when its source (or Spark's Hadoop) changes."""
    cache = getattr(request.config, "cache", None)
    out_dir = (cache.mkdir("mrsjobs-mapreduce-fixture") if cache is not None
               else tmp_path_factory.mktemp("mapreduce-jar"))
    jar: Path = _load_build().build_wordcount_jar(out_dir, spark_home)
    return jar




# -- a Spark standalone cluster across network namespaces ------------------------------


@pytest.fixture(scope="session")
def sparkapp_jar(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
                 spark_home: Path, java: str) -> Path:
    """The Pi and Sleep apps, in one jar every host of the test cluster sees."""
    from tests.fixtures.sparkapp.build import build_sparkapp_jar

    cache = getattr(request.config, "cache", None)
    out_dir = (cache.mkdir("mrsjobs-sparkapp-fixture") if cache is not None
               else tmp_path_factory.mktemp("sparkapp-jar"))
    return build_sparkapp_jar(out_dir, spark_home)


@pytest.fixture(scope="session")
def spark_cluster(tmp_path_factory: pytest.TempPathFactory, spark_home: Path,
                  java: str) -> Iterator[SparkCluster]:
    """A master and two workers, each in its own network namespace, for the session;
    removed at its end with nothing left (its teardown fails otherwise). Its REST
    server requires signed calls, as an operator who shares its network would have it."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        if os.environ.get("CI"):
            pytest.fail("CI needs root and iproute2 for the namespaced Spark cluster")
        pytest.skip("needs root and iproute2 (ip netns)")
    cluster = SparkCluster(tmp_path_factory.mktemp("spark-cluster"), spark_home,
                           secured=True)
    cluster.start()
    yield cluster
    cluster.stop()
