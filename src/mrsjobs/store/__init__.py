"""Persistence: SQLAlchemy tables and the one store class."""

from __future__ import annotations

from .store import Cluster, Identity, JobQuery, Store, now_ms

__all__ = ["Cluster", "Identity", "JobQuery", "Store", "now_ms"]
