"""Alembic migrations of the store; :meth:`mrsjobs.store.Store.migrate` runs them."""
