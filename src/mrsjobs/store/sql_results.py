"""The statement results of SQL jobs: written by the engine as each statement ends (so a
restart keeps what was done), read by the API, deleted with their job (a foreign key
with ON DELETE CASCADE)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from .database import Database
from .tables import sql_results

Row = Mapping[str, str | None]


@dataclass(frozen=True, slots=True)
class StatementResult:
    """One statement's rows (at most the configured number) and whether more were dropped."""

    statement: int
    rows: Sequence[Row]
    truncated: bool = False


class SqlResults(Database):
    """The SQL results of :class:`~mrsjobs.store.Store`."""

    def save_sql_result(self, job_id: str, result: StatementResult) -> None:
        """Store (or replace) one statement's result of a job."""
        values = {"job_id": job_id, "statement": result.statement,
                  "rows": json.dumps(list(result.rows), separators=(",", ":")),
                  "truncated": result.truncated}
        insert = pg_insert if self.is_postgres else sqlite_insert
        stmt = insert(sql_results).values(values)
        stmt = stmt.on_conflict_do_update(
            index_elements=["job_id", "statement"],
            set_={"rows": stmt.excluded.rows, "truncated": stmt.excluded.truncated})
        with self._write() as conn:
            conn.execute(stmt)

    def sql_results(self, job_id: str) -> list[StatementResult]:
        """A job's statement results, in statement order."""
        query = (select(sql_results.c.statement, sql_results.c.rows, sql_results.c.truncated)
                 .where(sql_results.c.job_id == job_id).order_by(sql_results.c.statement))
        with self.engine.connect() as conn:
            return [StatementResult(r.statement, json.loads(r.rows), bool(r.truncated))
                    for r in conn.execute(query)]

    def sql_results_stored(self, job_id: str) -> int:
        """How many statements of a job have a stored result."""
        query = select(func.count()).where(sql_results.c.job_id == job_id)
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())
