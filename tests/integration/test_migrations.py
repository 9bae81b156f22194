"""The Alembic migrations build exactly the schema the models describe."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from mrsjobs.domain.access import Role
from mrsjobs.store import Store
from mrsjobs.store.identity import IdentityStore
from mrsjobs.store.tables import metadata
from tests.databases import alembic


def test_upgrade_head_matches_the_models(db_url: str) -> None:
    store = Store(db_url)
    store.migrate()
    store.migrate()  # a second run finds nothing to do
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
        version = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
    assert diff == []
    assert version == "0011"
    store.close()


def test_downgrade_to_base_and_back(db_url: str) -> None:
    store = Store(db_url)
    store.migrate()
    with store.engine.begin() as conn:
        command.downgrade(alembic(conn), "base")
    assert set(inspect(store.engine).get_table_names()) == {"alembic_version"}
    store.migrate()
    assert {"projects", "clusters", "tokens", "jobs", "instances", "users", "access_keys",
            "audit_events"} <= set(inspect(store.engine).get_table_names())
    store.close()


def test_tokens_from_before_identity_keep_working(tmp_path: Path) -> None:
    """A token issued at 0001 acts, after the upgrade, as a member's that never expires."""
    store = Store(f"sqlite:///{tmp_path / 'm.db'}")
    with store.engine.begin() as conn:
        command.upgrade(alembic(conn), "0001")
        conn.exec_driver_sql("INSERT INTO projects VALUES ('p1', 'p1', 1)")
        conn.exec_driver_sql("INSERT INTO tokens VALUES ('h1', 'p1', 'alice', 1)")
    store.migrate()
    with store.engine.begin() as conn:
        cols = conn.exec_driver_sql("SELECT token_hash, user_id, expires_ms FROM tokens").all()
    assert cols == [("h1", None, None)]
    record = IdentityStore(store.engine, store.engine.begin).token("h1")
    assert record is not None
    assert (record.project_id, record.user_name, record.role, record.expires_ms) == (
        "p1", "alice", Role.MEMBER, None)
    store.close()
