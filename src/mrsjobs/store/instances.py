"""The service instances that share one database: heartbeats, and the hand-over of a
dead instance's jobs.

Each instance owns the jobs it launched. One that stops heartbeating is dead after a
timeout: an instance on the same host adopts its running jobs (the processes and their
records are on this host), and the jobs of a dead instance on another host are marked
lost after a longer timeout, never left RUNNING unseen.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, bindparam, delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.sql import Executable

from ..domain.clock import now_ms
from ..domain.jobs import Job, JobResult, JobState
from .rows import job_of_row
from .statements import may_become
from .store import Store
from .tables import instances, jobs


@dataclass(frozen=True, slots=True)
class Instance:
    id: str
    host: str
    pid: int
    runs_dir: str
    started_ms: int
    heartbeat_ms: int


def _upsert(insert: Callable[[Table], Any]) -> Executable:
    stmt = insert(instances).values(
        id=bindparam("p_id"), host=bindparam("p_host"), pid=bindparam("p_pid"),
        runs_dir=bindparam("p_runs"), started_ms=bindparam("p_now"),
        heartbeat_ms=bindparam("p_now"))
    upsert: Executable = stmt.on_conflict_do_update(
        index_elements=[instances.c.id],
        set_={"host": stmt.excluded.host, "pid": stmt.excluded.pid,
              "runs_dir": stmt.excluded.runs_dir, "started_ms": stmt.excluded.started_ms,
              "heartbeat_ms": stmt.excluded.heartbeat_ms})
    return upsert


_REGISTER = {"postgresql": _upsert(pg_insert), "sqlite": _upsert(sqlite_insert)}

_BEAT = (update(instances).where(instances.c.id == bindparam("p_id"))
         .values(heartbeat_ms=bindparam("p_now")))

_SILENT = select(instances).where(instances.c.heartbeat_ms < bindparam("p_cutoff"),
                                  instances.c.id != bindparam("p_me"))

_RUNNING_OF = (jobs.c.state == JobState.RUNNING, jobs.c.owner == bindparam("p_dead"))

#: The dead instance is still silent, as the database has it when the statement runs.
_STILL_SILENT = select(instances.c.id).where(
    instances.c.id == bindparam("p_dead"),
    instances.c.heartbeat_ms < bindparam("p_cutoff")).exists()

# The owner column changes only while the dead instance is still silent: two adopters
# racing for a job cannot both win it, and a dead instance that comes back first keeps it.
_ADOPT = (
    update(jobs)
    .where(*_RUNNING_OF, _STILL_SILENT)
    .values(owner=bindparam("p_me"))
    .returning(jobs)
)

# Likewise, jobs are lost only if their owner is still silent when the UPDATE runs: an
# instance that beat again after the caller's look keeps its jobs.
_LOSE = (
    update(jobs)
    .where(*_RUNNING_OF, _STILL_SILENT,
           may_become(JobState.FAILED, only_from={JobState.RUNNING}))
    .values(state=JobState.FAILED, result=JobResult.FAILED, finished_ms=bindparam("p_now"),
            diagnostics=bindparam("p_diag"))
    .returning(jobs.c.id)
)

_FORGET = delete(instances).where(
    instances.c.id == bindparam("p_dead"), instances.c.heartbeat_ms < bindparam("p_cutoff"),
    ~select(jobs.c.seq).where(*_RUNNING_OF).exists())


class Registry:
    """This instance's entry in the shared ``instances`` table, and its view of the others."""

    def __init__(self, store: Store, me: str, host: str, pid: int, runs_dir: str) -> None:
        self.store = store
        self.me = me
        self.host = host
        self.pid = pid
        self.runs_dir = runs_dir

    def register(self) -> None:
        """Announce this instance (again, after a restart: the same id owns the same jobs)."""
        stmt = _REGISTER["postgresql" if self.store.is_postgres else "sqlite"]
        with self.store.transaction() as conn:
            conn.execute(stmt, {"p_id": self.me, "p_host": self.host, "p_pid": self.pid,
                                "p_runs": self.runs_dir, "p_now": now_ms()})

    def heartbeat(self) -> None:
        with self.store.transaction() as conn:
            if conn.execute(_BEAT, {"p_id": self.me, "p_now": now_ms()}).rowcount == 0:
                conn.rollback()
                self.register()  # someone gave us up for dead and forgot us: come back

    def silent(self, timeout_ms: int) -> list[Instance]:
        """The other instances not heard from for ``timeout_ms``."""
        with self.store.engine.connect() as conn:
            rows = conn.execute(_SILENT, {"p_cutoff": now_ms() - timeout_ms, "p_me": self.me})
            return [Instance(r.id, r.host, r.pid, r.runs_dir, r.started_ms, r.heartbeat_ms)
                    for r in rows]

    def adopt(self, dead: Instance, timeout_ms: int) -> list[Job]:
        """Make the running jobs of a silent instance on this host ours."""
        params = {"p_dead": dead.id, "p_me": self.me, "p_cutoff": now_ms() - timeout_ms}
        with self.store.transaction() as conn:
            adopted = [job_of_row(r) for r in conn.execute(_ADOPT, params)]
            conn.execute(_FORGET, params)
        return adopted

    def mark_lost(self, dead: Instance, timeout_ms: int) -> list[str]:
        """Fail the running jobs of an instance silent for ``timeout_ms``, saying why.

        Whether it is silent is decided by the UPDATE itself, on the heartbeat stored
        when it runs, never on ``dead`` as read earlier."""
        cutoff = now_ms() - timeout_ms
        diag = (f"lost: service instance {dead.id} on host {dead.host} stopped "
                f"heartbeating and no instance on that host took its jobs over")
        params = {"p_dead": dead.id, "p_now": now_ms(), "p_diag": diag, "p_cutoff": cutoff}
        with self.store.transaction() as conn:
            lost = list(conn.execute(_LOSE, params).scalars())
            conn.execute(_FORGET, params)
        return lost
