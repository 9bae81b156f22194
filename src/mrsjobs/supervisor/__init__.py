"""Owns running jobs (``loop``: dispatch, launch, adoption in ``adoption``, kills in
``kills``, ends recorded in ``endings``, one ``run`` record per running job) and purges
old ones (``purger``)."""

from __future__ import annotations

from .config import JobCommands, SupervisorConfig
from .loop import Supervisor

__all__ = ["JobCommands", "Supervisor", "SupervisorConfig"]
