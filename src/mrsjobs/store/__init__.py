"""Persistence: SQLAlchemy tables, migrations, the store of jobs and identities, and
the file areas of the clusters."""

from __future__ import annotations

from .store import Cluster, JobQuery, Store

__all__ = ["Cluster", "JobQuery", "Store"]
