"""What a job's options may not set, and which of them name files.

A job is code a tenant wrote and may do what it likes inside its sandbox, but *where*
and *how* it runs is the service's to decide, and the launcher sets it: the master and
deploy mode, the addresses and ports the driver listens on (loopback, no UI), the
cluster's Hive metastore, warehouse and scratch directories, its file system, where
event logs go, the class path, native libraries and JVM agents, where dependencies come
from (nothing is downloaded), the Python runtime and the user a job runs as. A job's
``arguments`` and ``properties`` must not override any of that, however they say it:
``--conf k=v``, ``--conf=k=v`` or ``-c k=v`` (spark-submit), a key of ``properties``,
``--hiveconf k=v`` (spark-sql, whose Hive CLI reads it), ``-D k=v`` (Hadoop's generic
options, for MapReduce) or ``-Dk=v`` inside JVM options (Spark and Hive read system
properties as configuration). A job that tries is refused at submit with a 400 naming
the option, rather than run with the setting silently replaced -- or not replaced.

Arguments are read the way the tools read them: spark-submit's option parser (an
unknown ``--x=v`` reaches spark-sql's CLI as ``--x``, and the CLI's own options may sit
anywhere among spark-submit's), then commons-cli's GnuParser for the Hive CLI (``-i f``,
``-if``, ``--i f`` and ``-i=f`` all name an init file). Keys compare case-sensitively,
as Spark, Hive and Hadoop do, after stripping surrounding whitespace (Hadoop trims
names); ``spark.hadoop.K`` and ``spark.hive.K`` are also checked as the keys ``K`` and
``hive.K`` they become.

These checks do not contain a job (the sandbox does): they turn an attempt into a clear
error. Pure, no I/O. Values that name files come back as :class:`PathRef`, for the
caller to check with the rules of :mod:`mrsjobs.domain.paths`.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from .errors import InvalidParameter


@dataclass(frozen=True, slots=True)
class PathRef:
    """A value that names a file, and the field to name if it is refused."""

    field: str
    value: str


#: What the service decides -> the configuration keys that would change it: exact keys,
#: or prefixes ending in "." (``spark.ui.`` is every ``spark.ui.*``).
PROTECTED_KEYS: Mapping[str, tuple[str, ...]] = {
    "the master and deploy mode": (
        "spark.master", "spark.submit.deployMode", "spark.remote", "spark.api.mode"),
    "where the job listens": (
        "spark.driver.host", "spark.driver.bindAddress", "spark.driver.port",
        "spark.driver.blockManager.port", "spark.blockManager.port", "spark.port.maxRetries",
        "spark.ui.", "spark.connect."),
    "the cluster's metastore and warehouse": (
        "spark.sql.warehouse.dir", "spark.sql.catalogImplementation",
        "spark.sql.hive.metastore.", "hive.metastore.", "javax.jdo.", "datanucleus.",
        "hive.exec.scratchdir", "hive.exec.local.scratchdir", "hive.downloaded.resources.dir"),
    "the cluster's file system": ("fs.defaultFS", "fs.default.name", "mapreduce.framework.name"),
    "event logs and history": ("spark.eventLog.", "spark.history."),
    "the class path and native libraries": (
        "spark.driver.extraClassPath", "spark.executor.extraClassPath",
        "spark.driver.extraLibraryPath", "spark.executor.extraLibraryPath",
        "spark.yarn.am.extraLibraryPath", "hive.aux.jars.path", "hive.reloadable.aux.jars.path"),
    "where dependencies come from (jobs download nothing)": (
        "spark.jars.ivySettings", "spark.jars.ivy", "spark.jars.repositories",
        "spark.jars.packages"),
    "the Python runtime": ("spark.pyspark.python", "spark.pyspark.driver.python"),
}

#: Keys that set an environment variable of the driver or the executors ...
ENV_PREFIXES = ("spark.executorEnv.", "spark.yarn.appMasterEnv.", "spark.kubernetes.driverEnv.")
#: ... and the variables a job may not set that way (agents, preloads, addresses, runtime).
PROTECTED_ENV = frozenset({
    "LD_PRELOAD", "LD_AUDIT", "LD_LIBRARY_PATH", "JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS",
    "JDK_JAVA_OPTIONS", "CLASSPATH", "SPARK_LOCAL_IP", "SPARK_LOCAL_HOSTNAME",
    "SPARK_PUBLIC_DNS", "SPARK_CONF_DIR", "HADOOP_CONF_DIR", "PYSPARK_PYTHON",
    "PYSPARK_DRIVER_PYTHON",
})

#: Keys whose value is JVM options: allowed, unless they hold what JAVA_FORBIDDEN lists.
JAVA_OPTION_KEYS = frozenset({
    "spark.driver.extraJavaOptions", "spark.executor.extraJavaOptions",
    "spark.driver.defaultJavaOptions", "spark.executor.defaultJavaOptions",
    "spark.yarn.am.extraJavaOptions",
})
#: What JVM options may not contain: agents, the boot class path, native code, hooks
#: that run commands, a security manager, options read from a file, another class path.
JAVA_FORBIDDEN = (
    "-javaagent", "-agentpath", "-agentlib", "-Xbootclasspath", "-Djava.security.manager",
    "-XX:OnError", "-XX:OnOutOfMemoryError", "-Djava.library.path",
    "-Djava.system.class.loader", "-Djava.class.path", "-XX:Flags", "-XX:VMOptionsFile",
    "--patch-module",
)
#: JVM options, as whole words, that replace the class or module path.
JAVA_FORBIDDEN_WORDS = frozenset({
    "-cp", "-classpath", "--class-path", "-p", "--module-path", "--upgrade-module-path",
})

#: Keys whose value names files: a comma-separated list, or one file.
PATH_LIST_KEYS = frozenset({
    "spark.jars", "spark.files", "spark.submit.pyFiles", "spark.archives",
    "spark.yarn.dist.jars", "spark.yarn.dist.files", "spark.yarn.dist.archives",
    "spark.yarn.dist.pyFiles",
})
PATH_KEYS = frozenset({
    "spark.kerberos.keytab", "spark.yarn.keytab", "spark.driver.resourcesFile",
    "spark.worker.resourcesFile",
})
#: ... and every ``spark.{driver,executor,worker}.resource.<name>.discoveryScript``.
PATH_KEY_SUFFIX = ".discoveryScript"

# -- spark-submit's command line (org.apache.spark.launcher.SparkSubmitOptionParser) ----

#: spark-submit's options that take a value ("-c" is "--conf").
SUBMIT_OPTIONS = frozenset({
    "--archives", "--class", "--conf", "-c", "--deploy-mode", "--driver-class-path",
    "--driver-cores", "--driver-default-class-path", "--driver-java-options",
    "--driver-library-path", "--driver-memory", "--executor-cores", "--executor-memory",
    "--files", "--jars", "--keytab", "--kill", "--master", "--remote", "--name",
    "--num-executors", "--packages", "--exclude-packages", "--principal",
    "--properties-file", "--extra-properties-file", "--proxy-user", "--py-files", "--queue",
    "--repositories", "--status", "--total-executor-cores",
})
#: ... and those that take none.
SUBMIT_SWITCHES = frozenset({
    "--help", "-h", "--supervise", "--usage-error", "--verbose", "-v", "--version",
    "--load-spark-defaults",
})
_EQ_OPTION = re.compile(r"(--[^=]+)=(.+)")

SUBMIT_PATH_LISTS = frozenset({"--jars", "--py-files", "--files", "--archives"})
SUBMIT_PATHS = frozenset({"--properties-file", "--extra-properties-file", "--keytab"})

#: spark-submit options no job may give -> why.
SUBMIT_REFUSED: Mapping[str, str] = {
    "--driver-class-path": "the service decides the class path",
    "--driver-default-class-path": "the service decides the class path",
    "--driver-library-path": "the service decides the native libraries",
    "--packages": "jobs download nothing: put the jars in the file area and use --jars",
    "--repositories": "jobs download nothing: put the jars in the file area and use --jars",
    "--proxy-user": "a job runs as its project's user",
    "--kill": "a job runs an application, it does not act on others",
    "--status": "a job runs an application, it does not act on others",
    "--remote": "the service decides the master",
}
#: ... and those a SQL job may not give either: the service runs the SQL engine.
SQL_REFUSED: Mapping[str, str] = {
    "--master": "the service decides the master",
    "--deploy-mode": "the service decides the deploy mode",
    "--class": "a SQL job runs the service's SQL engine",
}
#: Main classes spark-submit treats as its own programs (SQL shell, servers, REPLs):
#: they read the rest of the command line differently, and the servers listen.
SPECIAL_CLASSES = frozenset({
    "org.apache.spark.sql.hive.thriftserver.SparkSQLCLIDriver",
    "org.apache.spark.sql.hive.thriftserver.HiveThriftServer2",
    "org.apache.spark.sql.connect.service.SparkConnectServer",
    "org.apache.spark.sql.application.ConnectRepl",
    "org.apache.spark.repl.Main",
})

# -- the Hive CLI of spark-sql (org.apache.hadoop.hive.cli.OptionsProcessor) ------------

HIVE_OPTIONS = frozenset({
    "database", "e", "f", "i", "hiveconf", "define", "d", "hivevar", "S", "silent", "v",
    "verbose", "H", "help",
})
#: Hive CLI options no job may give -> why.
HIVE_REFUSED: Mapping[str, str] = {
    "i": "an init file would run before the job's SQL",
    "init": "an init file would run before the job's SQL",
    "e": "the job's SQL is the last argument",
    "f": "the job's SQL is the last argument",
}


# -- keys and values ----------------------------------------------------------------------


def _read_as(key: str) -> Iterator[str]:
    """``key`` and the keys it also becomes (``spark.hadoop.K`` -> ``K``,
    ``spark.hive.K`` -> ``hive.K``), each stripped."""
    key = key.strip()
    yield key
    if key.startswith("spark.hadoop."):
        yield from _read_as(key.removeprefix("spark.hadoop."))
    elif key.startswith("spark.hive."):
        yield from _read_as("hive." + key.removeprefix("spark.hive."))


def key_problem(key: str) -> str | None:
    """Why a job may not set ``key``, or None if it may."""
    for name in _read_as(key):
        for what, keys in PROTECTED_KEYS.items():
            if any(name == k or (k.endswith(".") and name.startswith(k)) for k in keys):
                return f"cannot be set by a job: the service decides {what}"
        for prefix in ENV_PREFIXES:
            if name.startswith(prefix) and name.removeprefix(prefix).strip() in PROTECTED_ENV:
                return "cannot be set by a job: the service decides the job's environment"
    return None


def _check_key(field: str, key: str) -> None:
    if (problem := key_problem(key)) is not None:
        raise InvalidParameter(field, problem)


def check_java_options(field: str, value: str) -> None:
    """Refuse JVM options that load agents or native code, change the class path, or
    set a protected key as a system property (``-Dspark.master=...``)."""
    for bad in JAVA_FORBIDDEN:
        if bad in value:
            raise InvalidParameter(field, f"must not contain {bad}: the service decides the "
                                   "JVM's agents, class path and native libraries")
    try:
        words = shlex.split(value)
    except ValueError:
        words = value.split()
    for word in words:
        if word in JAVA_FORBIDDEN_WORDS or word.startswith("@"):
            raise InvalidParameter(field, f"must not contain {word}: the service decides "
                                   "the JVM's class path and options")
        if word.startswith("-D"):
            key = word[2:].partition("=")[0]
            if (problem := key_problem(key)) is not None:
                raise InvalidParameter(field, f"-D{key.strip()} {problem}")


def _items(value: str) -> list[str]:
    """The items of a comma-separated list of files, as Spark reads it (trimmed)."""
    return [item.strip() for item in value.split(",") if item.strip()]


def check_conf(field: str, key: str, value: str) -> list[PathRef]:
    """Refuse a protected ``key`` (or JVM options ``value`` that are not allowed); the
    files ``value`` names if ``key`` is one that names files."""
    _check_key(field, key)
    name = key.strip()
    if name in JAVA_OPTION_KEYS:
        check_java_options(field, value)
    if name in PATH_LIST_KEYS:
        return [PathRef(field, item) for item in _items(value)]
    if name in PATH_KEYS or name.endswith(PATH_KEY_SUFFIX):
        return [PathRef(field, value)]
    return []


def check_properties(properties: Mapping[str, str]) -> list[PathRef]:
    """Check a job's ``properties`` (Spark configuration, or Hadoop's for MapReduce)."""
    refs: list[PathRef] = []
    for key, value in properties.items():
        refs += check_conf(f"properties.{key.strip()}", key, value)
    return refs


# -- command lines ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Option:
    name: str  # "--conf" for "-c" too
    value: str | None
    spelled: str  # as the job wrote it, without an "=value"


def _parse_submit(args: Sequence[str], *, mixed: bool) -> tuple[list[_Option], list[str]]:
    """spark-submit's options in ``args``, and the other arguments.

    Not ``mixed`` (an application): the first other argument is the application and
    everything after it is the application's. ``mixed`` (spark-sql): every other
    argument goes to the SQL CLI and spark-submit's options may follow.
    """
    options: list[_Option] = []
    others: list[str] = []
    i = 0
    while i < len(args):
        arg, value = args[i], None
        if m := _EQ_OPTION.fullmatch(arg):
            arg, value = m.group(1), m.group(2)
        if arg in SUBMIT_OPTIONS:
            if value is None:
                if i + 1 == len(args):
                    raise InvalidParameter(f"arguments.{arg}", "needs a value")
                i += 1
                value = args[i]
            options.append(_Option("--conf" if arg == "-c" else arg, value, arg))
        elif arg in SUBMIT_SWITCHES:
            options.append(_Option(arg, None, arg))
        elif mixed:
            others.append(args[i])  # as written: what an "=v" said is checked too
        else:
            return options, list(args[i:])
        i += 1
    return options, others


def _check_submit_options(options: Sequence[_Option], *, sql: bool) -> list[PathRef]:
    refs: list[PathRef] = []
    for opt in options:
        field, value = f"arguments.{opt.spelled}", opt.value or ""
        why = SUBMIT_REFUSED.get(opt.name) or (SQL_REFUSED.get(opt.name) if sql else None)
        if why is not None:
            raise InvalidParameter(field, f"cannot be given: {why}")
        if opt.name == "--conf":
            key, _, conf_value = value.partition("=")
            refs += check_conf(f"{field} {key.strip()}", key, conf_value)
        elif opt.name == "--class" and value.strip() in SPECIAL_CLASSES:
            raise InvalidParameter(field, f"cannot name {value.strip()}: that is one of "
                                   "Spark's own shells or servers, not an application")
        elif opt.name == "--driver-java-options":
            check_java_options(field, value)
        elif opt.name in SUBMIT_PATH_LISTS:
            refs += [PathRef(field, item) for item in _items(value)]
        elif opt.name in SUBMIT_PATHS:
            refs.append(PathRef(field, value))
    return refs


def check_spark_submit(args: Sequence[str]) -> list[PathRef]:
    """Check spark-submit arguments (``[options] application [its arguments]``); the
    files they name, the application first. The application's own arguments are its
    business."""
    options, rest = _parse_submit(args, mixed=False)
    refs = _check_submit_options(options, sql=False)
    if not rest:
        raise InvalidParameter("arguments", "must name the application")
    return [PathRef("arguments.application", rest[0]), *refs]


def _hive_option(token: str) -> tuple[str, str | None] | None:
    """The Hive CLI option ``token`` is (its name, a value given with it), read the
    way GnuParser reads it, or None if it is no option."""
    if not token.startswith("-") or token in ("-", "--"):
        return None
    name = token.lstrip("-")
    if name in HIVE_OPTIONS:
        return name, None
    key, sep, value = name.partition("=")
    if sep and key in HIVE_OPTIONS:
        return key, value
    if not token.startswith("--") and token[1:2] in HIVE_OPTIONS:
        return token[1], token[2:]  # -ifile, -Dk=v style
    return key, value if sep else None


def check_sql_options(pairs: Sequence[str]) -> list[PathRef]:
    """Check the options a SQL job gives before its SQL (spark-sql's: spark-submit's
    and the Hive CLI's, in any order); the files they name."""
    options, cli = _parse_submit(pairs, mixed=True)
    refs = _check_submit_options(options, sql=True)
    for i, token in enumerate(cli):
        if (found := _hive_option(token)) is None:
            continue
        name, given = found
        spelled = f"-{name}" if len(name) == 1 else f"--{name}"
        if name in HIVE_REFUSED:
            raise InvalidParameter(f"arguments.{spelled}", f"cannot be given: {HIVE_REFUSED[name]}")
        if name != "hiveconf":
            continue
        # --hiveconf k=v, or --hiveconf k v. spark-submit drops the "=k=v" of an
        # unknown "--hiveconf=k=v", so the CLI takes the next word: check both.
        following = cli[i + 1] if i + 1 < len(cli) and not cli[i + 1].startswith("-") else None
        for setting in (given, following):
            if setting is not None:
                key, _, value = setting.partition("=")
                refs += check_conf(f"arguments.{spelled} {key.strip()}", key, value)
    return refs


def check_hadoop_arguments(args: Sequence[str]) -> None:
    """Refuse Hadoop generic options (read by ToolRunner mains) that set a protected
    key: ``-D k=v`` / ``-Dk=v`` with a protected key, ``-fs`` and ``-jt``."""
    for i, token in enumerate(args):
        if not token.startswith("-") or token in ("-", "--"):
            continue
        name = token.lstrip("-")
        key, sep, value = name.partition("=")
        if key in ("fs", "jt"):
            raise InvalidParameter(f"arguments.-{key}", "cannot be given: the service decides "
                                   "the cluster's file system and job runner")
        setting: str | None = None
        if name == "D":
            setting = args[i + 1] if i + 1 < len(args) else None
        elif key == "D" and sep:
            setting = value
        elif token.startswith("-D") and not token.startswith("--"):
            setting = token[2:]
        if setting is not None:
            conf_key = setting.partition("=")[0]
            _check_key(f"arguments.-D {conf_key.strip()}", conf_key)
