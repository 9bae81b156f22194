"""The job model: states, results, the transition table and job types. No I/O here."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum


class JobState(StrEnum):
    """The v2 ``job_state``; it mirrors a YARN application's state."""

    NEW = "NEW"
    NEW_SAVING = "NEW_SAVING"
    SUBMITTED = "SUBMITTED"
    ACCEPTED = "ACCEPTED"
    RUNNING = "RUNNING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"


class JobResult(StrEnum):
    """The v2 ``job_result``; it mirrors YARN's final application status."""

    UNDEFINED = "UNDEFINED"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    KILLED = "KILLED"


TERMINAL: frozenset[JobState] = frozenset({JobState.FINISHED, JobState.FAILED, JobState.KILLED})

#: States of a job that has not been handed to a supervisor yet: a kill moves
#: such a job straight to KILLED and it is never launched afterwards.
PRE_LAUNCH: frozenset[JobState] = frozenset(
    {JobState.NEW, JobState.NEW_SAVING, JobState.SUBMITTED, JobState.ACCEPTED}
)

#: target state -> the states it may be reached from. The store turns every
#: entry into a conditional UPDATE; nothing else decides whether a change is legal.
TRANSITIONS: Mapping[JobState, frozenset[JobState]] = {
    # From RUNNING only when the claim never reached an engine (a crash in between):
    # the job is queued again rather than lost.
    JobState.ACCEPTED: frozenset(
        {JobState.NEW, JobState.NEW_SAVING, JobState.SUBMITTED, JobState.RUNNING}
    ),
    # Claimed by a supervisor: from here on the owner alone ends the job.
    JobState.RUNNING: frozenset({JobState.ACCEPTED}),
    JobState.FINISHED: frozenset({JobState.RUNNING}),
    JobState.FAILED: frozenset({JobState.RUNNING}),
    JobState.KILLED: PRE_LAUNCH | {JobState.RUNNING},
}

#: The only (state, result) pairs a job can be in.
RESULT_OF: Mapping[JobState, frozenset[JobResult]] = {
    JobState.NEW: frozenset({JobResult.UNDEFINED}),
    JobState.NEW_SAVING: frozenset({JobResult.UNDEFINED}),
    JobState.SUBMITTED: frozenset({JobResult.UNDEFINED}),
    JobState.ACCEPTED: frozenset({JobResult.UNDEFINED}),
    JobState.RUNNING: frozenset({JobResult.UNDEFINED}),
    JobState.FINISHED: frozenset({JobResult.SUCCEEDED, JobResult.FAILED}),
    JobState.FAILED: frozenset({JobResult.FAILED}),
    JobState.KILLED: frozenset({JobResult.KILLED}),
}


class JobType(StrEnum):
    """The v2 ``job_type``. ``SparkPython`` is accepted on submit and stored as ``SparkSubmit``."""

    MAP_REDUCE = "MapReduce"
    SPARK_SUBMIT = "SparkSubmit"
    SPARK_PYTHON = "SparkPython"
    HIVE_SCRIPT = "HiveScript"
    HIVE_SQL = "HiveSql"
    DIST_CP = "DistCp"
    SPARK_SCRIPT = "SparkScript"
    SPARK_SQL = "SparkSql"
    FLINK = "Flink"

    @property
    def stored(self) -> JobType:
        return JobType.SPARK_SUBMIT if self is JobType.SPARK_PYTHON else self


SQL_TEXT_TYPES: frozenset[JobType] = frozenset({JobType.SPARK_SQL, JobType.HIVE_SQL})
SQL_FILE_TYPES: frozenset[JobType] = frozenset({JobType.SPARK_SCRIPT, JobType.HIVE_SCRIPT})


class Component(StrEnum):
    """What a cluster has installed; each job type needs one."""

    SPARK = "Spark"
    HIVE = "Hive"
    HADOOP = "Hadoop"
    FLINK = "Flink"


COMPONENT_OF: Mapping[JobType, Component] = {
    JobType.MAP_REDUCE: Component.HADOOP,
    JobType.DIST_CP: Component.HADOOP,
    JobType.SPARK_SUBMIT: Component.SPARK,
    JobType.SPARK_PYTHON: Component.SPARK,
    JobType.SPARK_SQL: Component.SPARK,
    JobType.SPARK_SCRIPT: Component.SPARK,
    JobType.HIVE_SQL: Component.HIVE,
    JobType.HIVE_SCRIPT: Component.HIVE,
    JobType.FLINK: Component.FLINK,
}


# spark-submit options that take no value; every other option takes one.
SPARK_FLAGS = frozenset({"--verbose", "-v", "--supervise", "--help", "-h", "--version",
                         "--usage-error", "--load-spark-defaults"})


def split_spark_options(args: Sequence[str]) -> tuple[list[list[str]], list[str]]:
    """Split spark-submit arguments into option groups and the application part."""
    options: list[list[str]] = []
    i = 0
    while i < len(args) and args[i].startswith("-"):
        arg = args[i]
        if arg in SPARK_FLAGS or (arg.startswith("--") and "=" in arg):
            options.append([arg])
            i += 1
        else:
            options.append(list(args[i:i + 2]))
            i += 2
    return options, list(args[i:])


@dataclass(frozen=True, slots=True)
class V11Submission:
    """What a v1.1 submit-job request said beyond the job's type and arguments, kept to
    show it back and to honour it: ``output`` is made before the job starts, and its
    logs are copied to ``job_log`` when it ends. Empty for jobs submitted otherwise."""

    jar_path: str = ""
    input: str = ""
    output: str = ""
    job_log: str = ""
    hive_script_path: str = ""
    file_action: str = ""
    hql: str = ""
    #: The arguments as one string, the way the request gave them.
    arguments: str = ""


NO_SUBMISSION = V11Submission()


@dataclass(frozen=True, slots=True)
class JobSpec:
    """What a user asked to run, already validated."""

    name: str
    type: JobType
    arguments: tuple[str, ...] = ()
    properties: Mapping[str, str] = field(default_factory=dict)
    submission: V11Submission = NO_SUBMISSION


@dataclass(frozen=True, slots=True)
class Job:
    """One job execution as stored. Times are epoch milliseconds."""

    id: str
    project_id: str
    cluster_id: str
    name: str
    type: JobType
    user: str
    queue: str
    arguments: tuple[str, ...]
    properties: Mapping[str, str]
    state: JobState
    result: JobResult
    progress: float
    submitted_ms: int
    started_ms: int | None = None
    finished_ms: int | None = None
    kill_requested_ms: int | None = None
    kill_requested_by: str | None = None
    kill_signalled_ms: int | None = None
    #: Kill signals sent so far (each recorded before it goes out), across restarts.
    kill_attempts: int = 0
    delete_requested: bool = False
    owner: str | None = None
    run_root: str | None = None
    launcher_id: str | None = None
    #: The engine's handle of the started job, as text: how it is found after a restart.
    engine_handle: str | None = None
    app_id: str | None = None
    tracking_url: str | None = None
    exit_code: int | None = None
    diagnostics: str | None = None
    submission: V11Submission = NO_SUBMISSION

    @property
    def updated_ms(self) -> int:
        """The last time anything happened to the job."""
        return max(t for t in (self.submitted_ms, self.started_ms, self.finished_ms,
                               self.kill_requested_ms, self.kill_signalled_ms) if t is not None)

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL

    @property
    def elapsed_ms(self) -> int:
        if self.started_ms is None:
            return 0
        end = self.finished_ms if self.finished_ms is not None else self.started_ms
        return max(0, end - self.started_ms)


@dataclass(frozen=True, slots=True)
class JobQuery:
    """A v2 list request; ``page`` is 1-based."""

    project_id: str
    cluster_id: str | None
    job_name: str | None = None
    job_id: str | None = None
    user: str | None = None
    job_type: JobType | None = None
    job_states: frozenset[JobState] | None = None
    job_result: JobResult | None = None
    queue: str | None = None
    submitted_from_ms: int | None = None
    submitted_to_ms: int | None = None
    limit: int = 10
    page: int = 1
    descending: bool = True


@dataclass(frozen=True, slots=True)
class JobPage:
    """A page of a project's jobs after the job ``marker`` (from the first if None), in
    the order of ``sort``: one of :data:`PAGE_SORTS`."""

    project_id: str
    limit: int = 100
    marker: str | None = None
    sort: str = "submitted_ms"
    descending: bool = False


#: The job fields a page of jobs may be sorted by.
PAGE_SORTS = ("submitted_ms", "started_ms", "finished_ms", "id", "cluster_id", "name")


@dataclass(frozen=True, slots=True)
class ExitStatus:
    """How a job's main process ended, as its shim recorded it."""

    exit_code: int | None
    signal: int | None
    ended_ms: int

    @property
    def succeeded(self) -> bool:
        return self.exit_code == 0

    @property
    def lost(self) -> bool:
        """Neither an exit code nor a signal: the process vanished without a record."""
        return self.exit_code is None and self.signal is None


@dataclass(frozen=True, slots=True)
class Outcome:
    state: JobState
    result: JobResult
    diagnostics: str | None


def outcome_of(exit: ExitStatus, *, kill_signalled_ms: int | None) -> Outcome:
    """The final state of a job whose process has ended.

    A job counts as killed only when our signal reached it before it ended on its
    own: if it finished while the kill was in flight, its natural end stands.
    """
    if exit.lost:
        return Outcome(JobState.FAILED, JobResult.FAILED, "the job's process was lost")
    if kill_signalled_ms is not None and exit.ended_ms >= kill_signalled_ms:
        return Outcome(JobState.KILLED, JobResult.KILLED, "killed on request")
    if exit.succeeded:
        return Outcome(JobState.FINISHED, JobResult.SUCCEEDED, None)

    if exit.signal is not None:
        return Outcome(JobState.FINISHED, JobResult.FAILED, f"terminated by signal {exit.signal}")
    return Outcome(JobState.FINISHED, JobResult.FAILED, f"exit code {exit.exit_code}")
