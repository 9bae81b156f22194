"""mrsjobs: a self-hosted MapReduce Service (MRS) job-execution service."""

from __future__ import annotations

__version__ = "0.1.0"
