"""The use cases, per project and role: jobs (``jobs``) and cluster files (``files``).
No HTTP and no SQL."""

from __future__ import annotations

from .files import FileService
from .jobs import JobService

__all__ = ["FileService", "JobService"]
