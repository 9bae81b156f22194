"""Jobs name only allowed files and cannot set what the service enforces: refused at
submit with InvalidParameter (400 12000002) naming the field or option."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from mrsjobs.api.v2 import submit_spec as parse_v2
from mrsjobs.api.v11 import submit_v11_spec
from mrsjobs.bootstrap import ensure_defaults
from mrsjobs.domain.access import Identity
from mrsjobs.domain.clusters import ClusterEngine
from mrsjobs.domain.errors import InvalidParameter
from mrsjobs.domain.jobs import NO_SUBMISSION, JobSpec, JobType, V11Submission, split_spark_options
from mrsjobs.domain.options import key_problem
from mrsjobs.domain.submit import check_spec
from mrsjobs.service.jobs import JobService
from mrsjobs.store import Store

ROOT = PurePosixPath("/opt/spark/examples")
ROOTS = (ROOT, PurePosixPath("/data/shared"))
APP = "hdfs:///apps/app.py"

#: Values that name something outside the file area and the read roots.
ESCAPES = [
    "../x.py",
    "apps/x.py",
    "x.py",
    "/etc/passwd",
    "file:///root/x",
    "file://host/opt/spark/examples/x",
    "hdfs://evil/x",
    "hdfs://evil:8020/x",
    "hdfs:///a/../b",
    "hdfs:///a/./b",
    "hdfs:////etc/passwd",
    "s3a://bucket/x",
    "obs://bucket/x",
    f"{ROOT}-evil/x",
    f"{ROOT}/../../etc/passwd",
    f"file://{ROOT}/%2e%2e/%2e%2e/etc/passwd",
    "/opt/spark",
]
#: Values a job may name.
ALLOWED = [
    "hdfs:///apps/a.py",
    "hdfs:///a/b/c.jar",
    f"{ROOT}/src/main/python/pi.py",
    f"file://{ROOT}/jars/spark-examples.jar",
    "/data/shared/x.jar",
]


def submit_spec(raw: Any, *, read_roots: Sequence[PurePosixPath] = ()) -> JobSpec:
    """A v2 body's spec as the service takes it: parsed by the API, then checked by the
    job rules (as the service checks every spec)."""
    spec = parse_v2(raw)
    check_spec(spec, read_roots)
    return spec


def v2(job_type: str, *arguments: str, **properties: str) -> dict[str, Any]:
    return {"job_type": job_type, "job_name": "j", "arguments": list(arguments),
            "properties": properties}


def v11(job_type: int, **fields: str) -> dict[str, Any]:
    return {"job_type": job_type, "job_name": "j", "cluster_id": "c", **fields}


def refused(body: dict[str, Any], field: str, *words: str, v11_body: bool = False) -> str:
    with pytest.raises(InvalidParameter) as err:
        if v11_body:
            submit_v11_spec(body, read_roots=ROOTS)
        else:
            submit_spec(body, read_roots=ROOTS)
    assert err.value.code == "12000002"
    assert err.value.field == field, err.value.message
    assert field in err.value.message
    for word in words:
        assert word in err.value.message
    return err.value.message


# -- path fields ----------------------------------------------------------------------------

#: (a v2 body naming ``value`` in one path field, that field's name)
V2_PATH_FIELDS: dict[str, tuple[Callable[[str], dict[str, Any]], str]] = {
    "spark application": (lambda v: v2("SparkSubmit", v, "10"), "arguments.application"),
    "python application": (lambda v: v2("SparkPython", v), "arguments.application"),
    "after options": (lambda v: v2("SparkSubmit", "--master", "yarn", "--class", "a.B", v),
                      "arguments.application"),
    "after a switch": (lambda v: v2("SparkSubmit", "--load-spark-defaults", v, APP),
                       "arguments.application"),
    "--jars": (lambda v: v2("SparkSubmit", "--jars", f"hdfs:///a.jar,{v}", APP),
               "arguments.--jars"),
    "--jars=": (lambda v: v2("SparkSubmit", f"--jars=hdfs:///a.jar, {v}", APP),
                "arguments.--jars"),
    "--py-files": (lambda v: v2("SparkPython", "--py-files", v, APP), "arguments.--py-files"),
    "--files": (lambda v: v2("SparkSubmit", "--files", v, APP), "arguments.--files"),
    "--archives": (lambda v: v2("SparkSubmit", "--archives", f"{v}#env", APP),
                   "arguments.--archives"),
    "--properties-file": (lambda v: v2("SparkSubmit", "--properties-file", v, APP),
                          "arguments.--properties-file"),
    "--conf spark.jars": (lambda v: v2("SparkSubmit", "--conf", f"spark.jars={v}", APP),
                          "arguments.--conf spark.jars"),
    "properties spark.files": (lambda v: v2("SparkSubmit", APP, **{"spark.files": v}),
                               "properties.spark.files"),
    "spark script": (lambda v: v2("SparkScript", f"{v}.sql"), "arguments.script"),
    "hive script": (lambda v: v2("HiveScript", "--hiveconf", "x=y", f"{v}.sql"),
                    "arguments.script"),
    "sql --properties-file": (lambda v: v2("SparkSql", "--properties-file", v, "SELECT 1"),
                              "arguments.--properties-file"),
    "sql --jars": (lambda v: v2("HiveSql", "--jars", v, "SELECT 1"), "arguments.--jars"),
    "mapreduce jar": (lambda v: v2("MapReduce", v, "in", "out"), "arguments.jar"),
}

#: (a v1.1 body naming ``value`` in one path field, that field's name)
V11_PATH_FIELDS: dict[str, tuple[Callable[[str], dict[str, Any]], str]] = {
    "spark jar_path": (lambda v: v11(2, jar_path=v), "jar_path"),
    "mapreduce jar_path": (lambda v: v11(1, jar_path=v), "jar_path"),
    "spark script": (lambda v: v11(6, hive_script_path=f"{v}.sql"), "hive_script_path"),
    "hive script": (lambda v: v11(3, hive_script_path=f"{v}.sql"), "hive_script_path"),
    "input": (lambda v: v11(2, jar_path=APP, input=v), "input"),
    "output": (lambda v: v11(2, jar_path=APP, output=v), "output"),
    "job_log": (lambda v: v11(1, jar_path="hdfs:///w.jar", job_log=v), "job_log"),
    "arguments --jars": (lambda v: v11(2, jar_path=APP, arguments=f"--jars {v}"),
                         "arguments.--jars"),
}


@pytest.mark.parametrize("value", ESCAPES)
@pytest.mark.parametrize("case", V2_PATH_FIELDS)
def test_v2_path_fields_refuse_escapes(case: str, value: str) -> None:
    make, field = V2_PATH_FIELDS[case]
    refused(make(value), field)


@pytest.mark.parametrize("value", ALLOWED)
@pytest.mark.parametrize("case", V2_PATH_FIELDS)
def test_v2_path_fields_accept_the_file_area_and_read_roots(case: str, value: str) -> None:
    make, _ = V2_PATH_FIELDS[case]
    spec = submit_spec(make(value), read_roots=ROOTS)
    assert spec.arguments == tuple(make(value)["arguments"])  # kept as written


@pytest.mark.parametrize("value", ESCAPES)
@pytest.mark.parametrize("case", V11_PATH_FIELDS)
def test_v11_path_fields_refuse_escapes(case: str, value: str) -> None:
    make, field = V11_PATH_FIELDS[case]
    refused(make(value), field, v11_body=True)


@pytest.mark.parametrize("value", ALLOWED)
@pytest.mark.parametrize("case", [c for c in V11_PATH_FIELDS if c not in ("output", "job_log")])
def test_v11_path_fields_accept_the_file_area_and_read_roots(case: str, value: str) -> None:
    make, _ = V11_PATH_FIELDS[case]
    submit_v11_spec(make(value), read_roots=ROOTS)


@pytest.mark.parametrize("field", ["output", "job_log"])
def test_v11_output_and_job_log_must_be_in_the_file_area(field: str) -> None:
    make, _ = V11_PATH_FIELDS[field]
    for local in (f"{ROOT}/out", f"file://{ROOT}/out"):
        refused(make(local), field, "must be in the cluster's file area (hdfs:///...)",
                v11_body=True)
    _, spec = submit_v11_spec(make("hdfs:///out/run1"), read_roots=ROOTS)
    assert getattr(spec.submission, field) == "hdfs:///out/run1"


def test_v11_local_paths_lose_file_scheme_and_keep_order() -> None:
    _, spec = submit_v11_spec(v11(2, jar_path=f"file://{ROOT}/jars/x.jar", arguments="a.B 5",
                                  input=f"{ROOT}/data", output="hdfs:///out"),
                              read_roots=ROOTS)
    assert spec.arguments == ("--class", "a.B", f"{ROOT}/jars/x.jar", "5", f"{ROOT}/data",
                              "hdfs:///out")


def test_the_message_says_where_files_may_come_from() -> None:
    message = refused(v2("SparkPython", "/etc/x.py"), "arguments.application")
    assert "hdfs:///path" in message and str(ROOT) in message
    with pytest.raises(InvalidParameter, match=r"must not contain '\.\.'"):
        submit_spec(v2("SparkPython", "hdfs:///a/../x.py"))
    with pytest.raises(InvalidParameter, match="no host"):
        submit_spec(v2("SparkPython", "hdfs://evil/x.py"))


def test_without_read_roots_only_the_file_area_is_allowed() -> None:
    assert submit_spec(v2("SparkPython", APP)).arguments == (APP,)
    for local in (f"{ROOT}/pi.py", "/x.py"):
        with pytest.raises(InvalidParameter) as err:
            submit_spec(v2("SparkPython", local))
        assert err.value.field == "arguments.application"


def test_the_applications_own_arguments_are_its_business() -> None:
    args = (APP, "/etc/passwd", "../x", "--conf", "spark.master=x", "--jars", "/etc/x.jar")
    assert submit_spec(v2("SparkSubmit", *args), read_roots=ROOTS).arguments == args
    mr = ("hdfs:///wc.jar", "wordcount", "/etc/passwd", "hdfs:///out")
    assert submit_spec(v2("MapReduce", *mr), read_roots=ROOTS).arguments == mr


def test_load_spark_defaults_takes_no_value() -> None:
    # spark-submit reads it as a switch: the next word is the application.
    assert split_spark_options(["--load-spark-defaults", "a.py", "x"]) == (
        [["--load-spark-defaults"]], ["a.py", "x"])


# -- protected options ----------------------------------------------------------------------

PROTECTED = [
    "spark.master", "spark.submit.deployMode", "spark.remote",
    "spark.driver.host", "spark.driver.bindAddress", "spark.driver.port",
    "spark.blockManager.port", "spark.driver.blockManager.port", "spark.port.maxRetries",
    "spark.ui.enabled", "spark.ui.port", "spark.connect.grpc.binding.port",
    "spark.sql.warehouse.dir", "spark.sql.catalogImplementation",
    "spark.hadoop.hive.metastore.uris", "spark.hadoop.hive.metastore.warehouse.dir",
    "spark.sql.hive.metastore.jars", "spark.sql.hive.metastore.version",
    "hive.metastore.uris", "spark.hive.metastore.uris",
    "spark.hadoop.javax.jdo.option.ConnectionURL", "javax.jdo.option.ConnectionURL",
    "spark.hadoop.hive.exec.scratchdir", "spark.hadoop.hive.exec.local.scratchdir",
    "spark.hadoop.hive.downloaded.resources.dir", "hive.exec.scratchdir",
    "spark.hadoop.fs.defaultFS", "fs.defaultFS", "fs.default.name",
    "mapreduce.framework.name", "spark.hadoop.mapreduce.framework.name",
    "spark.eventLog.enabled", "spark.eventLog.dir", "spark.history.fs.logDirectory",
    "spark.driver.extraClassPath", "spark.executor.extraClassPath",
    "spark.driver.extraLibraryPath", "spark.executor.extraLibraryPath",
    "spark.jars.ivySettings", "spark.jars.ivy", "spark.jars.repositories",
    "spark.jars.packages", "spark.pyspark.python", "spark.executorEnv.LD_PRELOAD",
    "spark.executorEnv.JAVA_TOOL_OPTIONS",
]

#: A spelling -> (a v2 or v1.1 body setting key=value, the field it is refused as).
SPELLINGS: dict[str, Callable[[str, str], tuple[dict[str, Any], str, bool]]] = {
    "--conf k=v": lambda k, v: (v2("SparkSubmit", "--conf", f"{k}={v}", APP),
                                f"arguments.--conf {k}", False),
    "--conf=k=v": lambda k, v: (v2("SparkPython", f"--conf={k}={v}", APP),
                                f"arguments.--conf {k}", False),
    "-c k=v": lambda k, v: (v2("SparkSubmit", "-c", f"{k}={v}", APP),
                            f"arguments.-c {k}", False),
    "properties": lambda k, v: (v2("SparkSubmit", APP, **{k: v}), f"properties.{k}", False),
    "padded properties": lambda k, v: (v2("SparkSubmit", APP, **{f" {k}\t": v}),
                                       f"properties.{k}", False),
    "padded --conf": lambda k, v: (v2("SparkSubmit", "--conf", f" {k} ={v}", APP),
                                   f"arguments.--conf {k}", False),
    "sql --conf": lambda k, v: (v2("SparkSql", "--conf", f"{k}={v}", "SELECT 1"),
                                f"arguments.--conf {k}", False),
    "sql properties": lambda k, v: (v2("HiveSql", "SELECT 1", **{k: v}),
                                    f"properties.{k}", False),
    "--hiveconf k=v": lambda k, v: (v2("SparkSql", "--hiveconf", f"{k}={v}", "SELECT 1"),
                                    f"arguments.--hiveconf {k}", False),
    "--hiveconf k v": lambda k, v: (v2("HiveSql", "--hiveconf", k, v, "-S", "SELECT 1"),
                                    f"arguments.--hiveconf {k}", False),
    "--hiveconf=k=v": lambda k, v: (v2("SparkScript", f"--hiveconf={k}={v}", "--verbose",
                                       "hdfs:///q.sql"), f"arguments.--hiveconf {k}", False),
    "-hiveconf after an option": lambda k, v: (
        v2("HiveScript", "--name", "n", "--verbose", "-hiveconf", f"{k}={v}", "-S",
           "hdfs:///q.sql"), f"arguments.--hiveconf {k}", False),
    "mapreduce properties": lambda k, v: (v2("MapReduce", "hdfs:///w.jar", **{k: v}),
                                          f"properties.{k}", False),
    "mapreduce -D k=v": lambda k, v: (v2("MapReduce", "hdfs:///w.jar", "-D", f"{k}={v}"),
                                      f"arguments.-D {k}", False),
    "mapreduce -Dk=v": lambda k, v: (v2("MapReduce", "hdfs:///w.jar", "Main", f"-D{k}={v}"),
                                     f"arguments.-D {k}", False),
    "v1.1 --conf k=v": lambda k, v: (v11(2, jar_path=APP, arguments=f"--conf '{k}={v}' x"),
                                     f"arguments.--conf {k}", True),
    "v1.1 --conf=k=v": lambda k, v: (v11(2, jar_path=APP, arguments=f"'--conf={k}={v}'"),
                                     f"arguments.--conf {k}", True),
    "v1.1 mapreduce -D": lambda k, v: (v11(1, jar_path=APP, arguments=f"-D '{k}={v}' a b"),
                                       f"arguments.-D {k}", True),
    "v1.1 sql --hiveconf": lambda k, v: (
        v11(6, hive_script_path="hdfs:///q.sql", arguments=f"--hiveconf '{k}={v}'"),
        f"arguments.--hiveconf {k}", True),
}


@pytest.mark.parametrize("spelling", SPELLINGS)
@pytest.mark.parametrize("key", PROTECTED)
def test_protected_keys_are_refused_in_every_spelling(key: str, spelling: str) -> None:
    body, field, is_v11 = SPELLINGS[spelling](key, "x")
    refused(body, field, "cannot be set by a job: the service decides", v11_body=is_v11)


@pytest.mark.parametrize(("key", "what"), [
    ("spark.master", "the master"),
    ("spark.ui.port", "where the job listens"),
    ("spark.hadoop.javax.jdo.option.ConnectionURL", "metastore"),
    ("spark.eventLog.dir", "event logs"),
    ("spark.driver.extraClassPath", "class path"),
    ("spark.jars.packages", "download nothing"),
])
def test_the_refusal_says_what_the_service_decides(key: str, what: str) -> None:
    assert what in (key_problem(key) or "")


ALLOWED_SETTINGS = [
    "spark.executor.memory=1g", "spark.sql.shuffle.partitions=4",
    "spark.sql.hive.metastorePartitionPruning=true", "spark.hadoop.fs.s3a.endpoint=x",
    "spark.executorEnv.MY_VAR=1", "spark.driver.extraJavaOptions=-XX:+UseG1GC -Dfoo=bar",
    "spark.executor.extraJavaOptions=-Xss4m", "spark.Master=x", "hive.exec.dynamic.partition=true",
    "spark.jars=hdfs:///a.jar,hdfs:///b.jar", "spark.uix=1",
]


@pytest.mark.parametrize("setting", ALLOWED_SETTINGS)
def test_other_settings_pass_in_every_spelling(setting: str) -> None:
    key, _, value = setting.partition("=")
    for spelling, make in SPELLINGS.items():
        if "mapreduce" in spelling and key.startswith("spark."):
            continue
        body, _, is_v11 = make(key, value)
        if is_v11:
            submit_v11_spec(body, read_roots=ROOTS)
        else:
            submit_spec(body, read_roots=ROOTS)


JAVA_BAD = ["-javaagent:/x.jar", "-agentpath:/x.so", "-agentlib:jdwp=transport=dt_socket",
            "-Xbootclasspath/a:/x.jar", "-Djava.security.manager=allow", "-XX:OnError=sh",
            "-XX:OnOutOfMemoryError=kill", "-Djava.library.path=/x", "@/tmp/args",
            "-cp /x.jar", "-Dspark.master=local", "-Dhive.metastore.uris=thrift://x:1",
            "-XX:VMOptionsFile=/x"]
JAVA_KEYS = ["spark.driver.extraJavaOptions", "spark.executor.extraJavaOptions",
             "spark.driver.defaultJavaOptions", "spark.executor.defaultJavaOptions"]


@pytest.mark.parametrize("bad", JAVA_BAD)
def test_jvm_options_must_not_load_agents_or_change_the_class_path(bad: str) -> None:
    opts = f"-Xss4m {bad} -XX:+UseG1GC"
    for key in JAVA_KEYS:
        refused(v2("SparkSubmit", APP, **{key: opts}), f"properties.{key}")
        refused(v2("SparkSubmit", "--conf", f"{key}={opts}", APP), f"arguments.--conf {key}")
        refused(v2("SparkSql", "--hiveconf", f"{key}={opts}", "SELECT 1"),
                f"arguments.--hiveconf {key}")
    refused(v2("SparkSubmit", "--driver-java-options", opts, APP),
            "arguments.--driver-java-options")
    refused(v2("SparkSql", "--driver-java-options", opts, "SELECT 1"),
            "arguments.--driver-java-options")
    refused(v11(2, jar_path=APP, arguments=f"--driver-java-options '{opts}'"),
            "arguments.--driver-java-options", v11_body=True)


def test_jvm_options_without_those_pass() -> None:
    opts = "-XX:+UseG1GC -Dfoo=bar -Dlog4j.configuration=x -ea"
    submit_spec(v2("SparkSubmit", "--driver-java-options", opts, APP), read_roots=ROOTS)
    submit_spec(v2("SparkSql", "--driver-java-options", "-ea", "SELECT 1"))


@pytest.mark.parametrize(("args", "field"), [
    (["--driver-class-path", "/x.jar"], "arguments.--driver-class-path"),
    (["--driver-library-path", "/x"], "arguments.--driver-library-path"),
    (["--driver-default-class-path", "/x"], "arguments.--driver-default-class-path"),
    (["--packages", "a:b:1"], "arguments.--packages"),
    (["--repositories", "http://x"], "arguments.--repositories"),
    (["--proxy-user", "root"], "arguments.--proxy-user"),
    (["--kill", "driver-1"], "arguments.--kill"),
    (["--status", "driver-1"], "arguments.--status"),
    (["--remote", "sc://x"], "arguments.--remote"),
    (["--driver-class-path=/x.jar"], "arguments.--driver-class-path"),
    (["--class", "org.apache.spark.sql.hive.thriftserver.HiveThriftServer2"], "arguments.--class"),
    (["--class", "org.apache.spark.sql.hive.thriftserver.SparkSQLCLIDriver"], "arguments.--class"),
])
def test_spark_submit_options_the_service_decides_are_refused(args: list[str], field: str) -> None:
    refused(v2("SparkSubmit", *args, APP), field)
    pairs = args if len(args) == 2 else [*args, "--verbose"]
    refused(v2("SparkSql", *pairs, "SELECT 1"), field)


def test_master_and_deploy_mode_stay_accepted_for_spark_submit() -> None:
    args = ("--master", "yarn", "--deploy-mode", "cluster", "--master=yarn-cluster", APP)
    assert submit_spec(v2("SparkSubmit", *args)).arguments == args
    submit_v11_spec(v11(2, jar_path=APP, arguments="--master yarn --deploy-mode cluster"))


@pytest.mark.parametrize("pair", [["--master", "local"], ["--deploy-mode", "client"],
                                  ["--master=local", "--verbose"], ["--class", "a.B"]])
def test_sql_jobs_refuse_master_deploy_mode_and_class(pair: list[str]) -> None:
    field = f"arguments.{pair[0].split('=')[0]}"
    refused(v2("SparkSql", *pair, "SELECT 1"), field, "cannot be given")
    refused(v2("HiveScript", *pair, "hdfs:///q.sql"), field)


@pytest.mark.parametrize(("pair", "field"), [
    (["-i", "hdfs:///init.sql"], "arguments.-i"),
    (["--verbose", "-ihdfs:///init.sql"], "arguments.-i"),
    (["--i", "hdfs:///init.sql"], "arguments.-i"),
    (["-i=hdfs:///init.sql", "-S"], "arguments.-i"),
    (["--init", "hdfs:///init.sql"], "arguments.--init"),
    (["--init=hdfs:///init.sql", "-S"], "arguments.--init"),
    (["-e", "SELECT 2"], "arguments.-e"),
    (["-f", "hdfs:///other.sql"], "arguments.-f"),
    (["-fhdfs:///other.sql", "--verbose"], "arguments.-f"),
    # spark-submit passes words it does not know to the SQL CLI, in any position.
    (["--verbose", "-i", "hdfs:///init.sql", "-S"], "arguments.-i"),
])
def test_sql_jobs_refuse_init_files_and_other_sql(pair: list[str], field: str) -> None:
    refused(v2("SparkSql", *pair, "SELECT 1"), field, "cannot be given")
    refused(v2("HiveScript", *pair, "hdfs:///q.sql"), field)
    words = " ".join(f"'{w}'" for w in pair)
    refused(v11(6, hive_script_path="hdfs:///q.sql", arguments=words), field, v11_body=True)


def test_sql_option_values_are_not_mistaken_for_options() -> None:
    args = ("--driver-java-options", "-ea", "--name", "-f", "--hivevar", "a=b",
            "--database", "db", "--hiveconf", "hive.exec.dynamic.partition=true", "SELECT 1")
    assert submit_spec(v2("SparkSql", *args)).arguments == args


def test_mapreduce_generic_options_that_name_the_cluster_are_refused() -> None:
    refused(v2("MapReduce", "hdfs:///w.jar", "-fs", "hdfs://x:8020"), "arguments.-fs")
    refused(v2("MapReduce", "hdfs:///w.jar", "Main", "-jt", "x:8032"), "arguments.-jt")
    refused(v11(1, jar_path="hdfs:///w.jar", arguments="-fs=file:///"), "arguments.-fs",
            v11_body=True)
    ok = ("hdfs:///w.jar", "-D", "mapreduce.job.reduces=2", "-Dx=y", "in", "out")
    assert submit_spec(v2("MapReduce", *ok)).arguments == ok


# -- the service checks every spec against its read roots ----------------------------------


def spark(*arguments: str, submission: V11Submission = NO_SUBMISSION) -> JobSpec:
    """A spec as the service is given it, not checked by any API on the way."""
    return JobSpec("j", JobType.SPARK_SUBMIT, arguments, {}, submission)



@pytest.fixture
def service_parts(tmp_path: Path) -> Iterator[tuple[Store, Identity, str]]:
    store = Store(f"sqlite:///{tmp_path / 'jobs.db'}")
    store.migrate()
    defaults = ensure_defaults(store)
    yield store, Identity(defaults.project_id, "alice"), defaults.cluster_id
    store.close()


def test_job_service_checks_files_against_its_read_roots(
        service_parts: tuple[Store, Identity, str]) -> None:
    store, who, cluster_id = service_parts
    service = JobService(store, {ClusterEngine.LOCAL: frozenset(JobType)}, read_roots=ROOTS)
    job = service.submit(who, who.project_id, cluster_id,
                         spark(f"{ROOT}/src/main/python/pi.py", "10"))
    assert job.arguments == (f"{ROOT}/src/main/python/pi.py", "10")
    with pytest.raises(InvalidParameter) as err:
        service.submit(who, who.project_id, cluster_id, spark("/etc/x.py"))
    assert err.value.field == "arguments.application"
    with pytest.raises(InvalidParameter) as err:
        service.submit(who, who.project_id, cluster_id, spark(
            APP, submission=V11Submission(jar_path=APP, job_log=f"{ROOT}/logs")))
    assert err.value.field == "job_log"
    default = JobService(store, {ClusterEngine.LOCAL: frozenset(JobType)})
    with pytest.raises(InvalidParameter):
        default.submit(who, who.project_id, cluster_id, spark(f"{ROOT}/pi.py"))
