"""Fresh databases for tests: a SQLite file, or a new database on the PostgreSQL server.

The PostgreSQL server is ``MRSJOBS_TEST_POSTGRES_URL`` (default: the local server,
user postgres). Without it the PostgreSQL variants are skipped with the reason; under
CI (``CI`` set) they fail instead, so a missing server is never silently untested.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import pytest
from alembic.config import Config
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.engine import make_url

POSTGRES_URL = os.environ.get(
    "MRSJOBS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
BACKENDS = ("sqlite", "postgresql")


@cache
def _postgres_problem() -> str | None:
    try:
        engine = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:
        return f"PostgreSQL at {make_url(POSTGRES_URL).render_as_string()} unreachable: {exc}"
    return None


def require_postgres() -> None:
    problem = _postgres_problem()
    if problem is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI needs PostgreSQL: {problem}")
    pytest.skip(problem)


@contextmanager
def postgres_database(prefix: str = "mrsjobs_t") -> Iterator[str]:
    """A new, empty database for the duration; dropped afterwards."""
    require_postgres()
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def database(backend: str, tmp_path: Path) -> Iterator[str]:
    """A fresh database URL of ``backend`` ("sqlite" or "postgresql")."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / f'{uuid.uuid4().hex[:8]}.db'}"
    else:
        with postgres_database() as url:
            yield url


def alembic(conn: Connection) -> Config:
    """Alembic's configuration for the service's migrations, run in ``conn``'s
    transaction: to move a test database to a given version."""
    config = Config()
    config.set_main_option("script_location", "mrsjobs.store:migrations")
    config.attributes["connection"] = conn
    return config
