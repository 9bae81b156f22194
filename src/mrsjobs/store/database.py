"""The database under the store: its engine, the queue of this process's writers,
the transactions that instances sharing it run one at a time, and its migrations."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.pool import ConnectionPoolEntry

from ..telemetry.instruments import STORE_SECONDS
from . import statements as sql

#: The statement kinds the store's latency is reported by; anything else is "other".
STATEMENT_KINDS = frozenset({"select", "insert", "update", "delete", "with"})


def _sqlite_pragmas(dbapi_conn: Any, _record: ConnectionPoolEntry) -> None:
    cur = dbapi_conn.cursor()
    # WAL lets readers run beside the one writer; NORMAL sync is crash-safe in WAL.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def normalize_url(url: str) -> str:
    """``postgresql://`` means psycopg 3 here (SQLAlchemy would pick psycopg2)."""
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            return "postgresql+psycopg://" + url[len(plain):]
    return url


def _timed(engine: Engine) -> Engine:
    """Each statement's time goes to the store latency histogram, by its first word."""

    # One statement at a time per connection; a failed one's start is overwritten.
    def before(conn: Connection, *_: Any) -> None:
        conn.info["mrsjobs_began"] = time.perf_counter()

    def after(conn: Connection, _cursor: Any, statement: str, *_: Any) -> None:
        began = conn.info.pop("mrsjobs_began", None)
        if began is None:
            return
        words = statement.split(None, 1)
        kind = words[0].lower() if words else ""
        STORE_SECONDS.labels(kind if kind in STATEMENT_KINDS else "other").observe(
            time.perf_counter() - began)

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    return engine


def make_engine(url: str) -> Engine:
    url = normalize_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=20,
            max_overflow=20,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return _timed(engine)
    return _timed(create_engine(url, pool_size=20, max_overflow=20, pool_pre_ping=True))


class Database:
    """One SQL database (SQLite or PostgreSQL) and how this process writes to it."""

    def __init__(self, url: str) -> None:
        self.url = url = normalize_url(url)
        self.is_postgres = url.startswith("postgresql")
        self.engine = make_engine(url)
        # SQLite admits one writer; its busy handler sleeps 1-25 ms per retry. Queue
        # this process's writers on a lock instead (other processes still use it).
        self._write_lock: AbstractContextManager[Any] = (
            threading.Lock() if url.startswith("sqlite") else nullcontext())

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self._write_lock, self.engine.begin() as conn:
            yield conn

    def transaction(self) -> AbstractContextManager[Connection]:
        """A write transaction, queued behind this process's other writers on SQLite."""
        return self._write()

    @contextmanager
    def serialized(self) -> Iterator[Connection]:
        """A write transaction that the instances sharing this database run one at a
        time (PostgreSQL: an advisory lock, held until it commits). For what every
        instance does on start: migrations, the default project, the server key."""
        with self._write() as conn:
            if self.is_postgres:
                conn.execute(sql.SERIALIZE, {"p_key": sql.STARTUP_LOCK})
            yield conn

    def migrate(self) -> None:
        """Bring the schema to the newest revision (Alembic, on this store's engine).

        Instances started at once on a fresh database take turns: the second one
        finds the schema made (never a duplicate ``alembic_version`` row)."""
        config = Config()
        config.set_main_option("script_location", "mrsjobs.store:migrations")
        with self.serialized() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "head")

    def close(self) -> None:
        self.engine.dispose()
