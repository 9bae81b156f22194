"""The Alembic migrations build exactly the schema the models describe."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from mrsjobs.store import Store
from mrsjobs.store.tables import metadata


def test_upgrade_head_matches_the_models(db_url: str) -> None:
    store = Store(db_url)
    store.migrate()
    store.migrate()  # a second run finds nothing to do
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
        version = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
    assert diff == []
    assert version == "0004"
    store.close()


def test_downgrade_to_base_and_back(db_url: str) -> None:
    store = Store(db_url)
    store.migrate()
    config = Config()
    config.set_main_option("script_location", "mrsjobs.store:migrations")
    with store.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "base")
    assert set(inspect(store.engine).get_table_names()) == {"alembic_version"}
    store.migrate()
    assert {"projects", "clusters", "tokens", "jobs"} <= set(
        inspect(store.engine).get_table_names())
    store.close()
