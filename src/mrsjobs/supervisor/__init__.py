"""Owns running jobs (``loop``) and purges old ones (``purger``)."""

from __future__ import annotations

from .loop import Supervisor, SupervisorConfig

__all__ = ["Supervisor", "SupervisorConfig"]
