"""Fixtures of the store-level tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mrsjobs.store import Store


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    """A migrated, empty store on each database backend."""
    store = Store(db_url)
    store.migrate()
    yield store
    store.close()
