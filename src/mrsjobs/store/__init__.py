"""Persistence: SQLAlchemy tables and the one store class."""

from __future__ import annotations

from ..domain.access import Identity
from .rows import now_ms
from .store import Cluster, JobQuery, Store

__all__ = ["Cluster", "Identity", "JobQuery", "Store", "now_ms"]
