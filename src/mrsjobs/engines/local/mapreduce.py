"""Runs MRS MapReduce jobs (``hadoop jar x.jar [main class] args...``) on this host.

The job runs in one JVM: Hadoop's ``org.apache.hadoop.util.RunJar`` with the
LocalJobRunner (``mapreduce.framework.name=local``) on the local file system
(``fs.defaultFS=file:///``). There is no Hadoop installation: the classpath is
the shaded Hadoop client that Spark ships (``hadoop-client-api`` and
``hadoop-client-runtime``) plus the logging jars those two leave unshaded.

The command line, with W = ``<work_dir>/.hadoop`` and J = ``$SPARK_HOME/jars``::

    java -Xmx512m -XX:+UseSerialGC -Djava.net.preferIPv4Stack=true \\
        -Djava.io.tmpdir=W/java-tmp -Dhadoop.log.dir=W/logs \\
        -Dlog4j2.configurationFile=W/conf/log4j2.properties \\
        -cp W/conf:J/hadoop-client-api-3.5.0.jar:J/hadoop-client-runtime-3.5.0.jar:\\
    J/slf4j-api-2.0.17.jar:J/jcl-over-slf4j-2.0.17.jar:J/log4j-slf4j2-impl-2.25.4.jar:\\
    J/log4j-api-2.25.4.jar:J/log4j-core-2.25.4.jar:J/log4j-1.2-api-2.25.4.jar \\
        org.apache.hadoop.util.RunJar <jar> [<main class>] <args...>

where W/conf holds the generated core-, hdfs-, mapred- and yarn-site.xml and
log4j2.properties (versions as shipped with pyspark 4.3.0; the jars are looked up by name).
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

RUN_JAR = "org.apache.hadoop.util.RunJar"
JVM_HEAP = "-Xmx512m"

# Spark's jars needed by RunJar + LocalJobRunner, by artifact name (the version
# is whatever Spark ships). The two Hadoop client jars shade everything except
# logging: RunJar needs slf4j-api, the job client commons-logging (here the
# jcl-over-slf4j bridge), and a few classes (TaskLog, StringUtils) still use
# the log4j 1 API (the log4j-1.2-api bridge). log4j-slf4j2-impl + log4j-core
# make the job's progress and counters visible; without a provider slf4j falls
# back to a no-op logger and the job prints nothing at all.
#
# Not ``jars/*``: the user's job sees the same classpath as with ``hadoop jar``
# on a cluster built from the shaded client (its own jar plus Hadoop's public
# API), not Spark's ~280 jars with their own versions of Guava, Jackson, Hive...
HADOOP_JARS = (
    "hadoop-client-api",
    "hadoop-client-runtime",
    "slf4j-api",
    "jcl-over-slf4j",
    "log4j-slf4j2-impl",
    "log4j-api",
    "log4j-core",
    "log4j-1.2-api",
)

# What makes this the local cluster, whatever the job's properties say.
LOCAL_CLUSTER = {"fs.defaultFS": "file:///", "mapreduce.framework.name": "local"}

# The *-site.xml files that get the job's configuration; see _write_site_files.
SITE_FILES = ("core-site.xml", "hdfs-site.xml", "mapred-site.xml", "yarn-site.xml")

LOG4J2_PROPERTIES = """\
# Written by mrsjobs: Hadoop's log to stderr, like the `hadoop` command does.
status = error
rootLogger.level = info
rootLogger.appenderRef.console.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{yy/MM/dd HH:mm:ss} %p %c{1}: %m%n
# "Unable to load native-hadoop library": there is none; the Java code is used.
logger.native.name = org.apache.hadoop.util.NativeCodeLoader
logger.native.level = error
# "Cannot locate configuration: tried hadoop-metrics2-jobtracker.properties..."
logger.metrics.name = org.apache.hadoop.metrics2
logger.metrics.level = error
"""


def _spark_jar(jars: Path, name: str) -> Path:
    """``jars/<name>-<version>.jar`` (the last by name if there are several)."""
    found = sorted(p for p in jars.glob(f"{name}-*.jar")
                   if p.name[len(name) + 1:len(name) + 2].isdigit())
    if not found:
        raise FileNotFoundError(f"{name}-<version>.jar is not in {jars}: "
                                "this Spark distribution cannot run MapReduce jobs")
    return found[-1]


def hadoop_classpath(spark_home: Path) -> str:
    """The classpath for RunJar + LocalJobRunner from Spark's jars (only what is needed)."""
    jars = spark_home / "jars"
    return os.pathsep.join(str(_spark_jar(jars, name)) for name in HADOOP_JARS)


def local_jar_path(jar: str) -> str:
    """A local path for ``jar``: a ``file:`` URI or a plain path (kept as given)."""
    parts = urlsplit(jar)
    if parts.scheme == "file" and parts.netloc in ("", "localhost"):
        return url2pathname(parts.path)
    return jar


def hadoop_conf(scratch: Path, properties: Mapping[str, str]) -> dict[str, str]:
    """The job's Hadoop configuration: the local runner with its scratch space under
    ``scratch``, then the job's own properties. These may override any of it except
    the two settings that make this the local cluster."""
    tmp = scratch / "tmp"
    conf = {
        "hadoop.tmp.dir": str(tmp),
        # These default to ${hadoop.tmp.dir}/..., except the staging root, whose
        # built-in default is /tmp/hadoop/mapred/staging: set them all explicitly.
        "mapreduce.cluster.local.dir": str(tmp / "mapred" / "local"),
        "mapreduce.cluster.temp.dir": str(tmp / "mapred" / "temp"),
        "mapreduce.jobtracker.staging.root.dir": str(tmp / "mapred" / "staging"),
        "yarn.app.mapreduce.am.staging-dir": str(tmp / "yarn" / "staging"),
        # The job client polls the in-process runner for progress every 1 s (and
        # for completion every 5 s without verbose): each costs up to that much
        # latency at the end of the job for nothing.
        "mapreduce.client.progressmonitor.pollinterval": "100",
        "mapreduce.client.completion.pollinterval": "100",
    }
    conf.update(properties)
    conf.update(LOCAL_CLUSTER)
    return conf


def _site_xml(conf: Mapping[str, str]) -> bytes:
    root = ET.Element("configuration")
    for key, value in conf.items():
        prop = ET.SubElement(root, "property")
        ET.SubElement(prop, "name").text = key
        ET.SubElement(prop, "value").text = value
    ET.indent(root)
    xml: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return xml + b"\n"


def _write_site_files(conf_dir: Path, conf: Mapping[str, str]) -> None:
    # Why files and not -D: RunJar passes the arguments to the job's main class
    # untouched. Generic options (-D k=v, -conf ...) are only parsed when the
    # job runs through ToolRunner/GenericOptionsParser, and in front of a job
    # that does not they would become its input paths. JVM system properties
    # (java -Dk=v) are not configuration at all: Hadoop's Configuration reads
    # them only to expand ${k} in other values. What every Configuration reads
    # is its default resources on the classpath, so conf_dir goes first on it
    # (the `hadoop` command does the same with HADOOP_CONF_DIR).
    #
    # The same properties go into every *-site.xml: a key defined in
    # mapred-default.xml (loaded when JobConf is first used, after core-site.xml)
    # would otherwise override a value from core-site.xml, and a key like
    # fs.defaultFS must also reach a plain Configuration that never loads
    # mapred-site.xml. Each *-site.xml is loaded after its *-default.xml, so
    # whichever is loaded last, the value is ours.
    #
    # A job that does use ToolRunner may still pass -D k=v in its own arguments;
    # those override these files.
    conf_dir.mkdir(parents=True, exist_ok=True)
    xml = _site_xml(conf)
    for name in SITE_FILES:
        (conf_dir / name).write_bytes(xml)
    (conf_dir / "log4j2.properties").write_text(LOG4J2_PROPERTIES, encoding="utf-8")


def mapreduce_argv(*, java: str, spark_home: Path, jar: str, args: Sequence[str],
                   properties: Mapping[str, str], work_dir: Path) -> list[str]:
    """argv that runs ``jar`` through RunJar with the local job runner.

    ``jar`` is a local path or a ``file:`` URI; ``args`` are RunJar's: the main
    class unless the jar's manifest names one, then the job's own arguments.
    A jar that does not exist makes RunJar exit with status 255 and print
    ``JAR does not exist or is not a normal file: <path>``.

    Writes the job's Hadoop configuration (``properties`` on top of the local
    runner's settings) to ``work_dir/.hadoop/conf`` and keeps all of Hadoop's
    scratch space in ``work_dir/.hadoop``: ``tmp`` (hadoop.tmp.dir: staging,
    map outputs), ``java-tmp`` (java.io.tmpdir: RunJar unpacks the jar there)
    and ``logs`` (hadoop.log.dir). Nothing goes to the shared /tmp defaults, so
    jobs running at the same time do not meet.
    """
    classpath = hadoop_classpath(spark_home)
    scratch = (work_dir / ".hadoop").absolute()  # absolute: the job's cwd may differ
    conf_dir = scratch / "conf"
    java_tmp = scratch / "java-tmp"
    log_dir = scratch / "logs"
    for d in (java_tmp, log_dir):
        d.mkdir(parents=True, exist_ok=True)
    _write_site_files(conf_dir, hadoop_conf(scratch, properties))
    return [
        java,
        JVM_HEAP,
        # One small heap on two cores: no parallel/concurrent GC threads.
        "-XX:+UseSerialGC",
        "-Djava.net.preferIPv4Stack=true",
        f"-Djava.io.tmpdir={java_tmp}",
        f"-Dhadoop.log.dir={log_dir}",
        f"-Dlog4j2.configurationFile={conf_dir / 'log4j2.properties'}",
        "-cp",
        os.pathsep.join([str(conf_dir), classpath]),
        RUN_JAR,
        local_jar_path(jar),
        *args,
    ]
