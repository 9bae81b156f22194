"""Persistence: SQLAlchemy tables and the one store class."""

from __future__ import annotations

from ..access import Identity
from .store import Cluster, JobQuery, Store, now_ms

__all__ = ["Cluster", "Identity", "JobQuery", "Store", "now_ms"]
