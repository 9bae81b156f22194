"""Engines run jobs: the port in ``base``, processes on this host in ``process``."""

from __future__ import annotations
