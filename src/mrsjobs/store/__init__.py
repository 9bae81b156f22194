"""Persistence: SQLAlchemy tables, migrations, the store of jobs and identities, and
the file areas of the clusters."""

from __future__ import annotations

from ..domain.jobs import JobQuery
from .clusters import Cluster
from .store import Store

__all__ = ["Cluster", "JobQuery", "Store"]
