"""How this service contains the processes it runs for a project: the isolation the
host allows (sandbox.py), the project's OS user and network namespace (tenants.py)."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..settings import Settings
from .sandbox import Confinement, Isolation, Sandbox, detect, java_home, runtime_paths
from .tenants import Tenant, Tenants

log = logging.getLogger(__name__)


class ContainmentUnavailable(Exception):
    """``MRSJOBS_ISOLATION=on`` and this host cannot contain jobs."""


@dataclass
class Containment:
    isolation: Isolation
    reason: str
    sandbox: Sandbox | None = None
    tenants: Tenants | None = None

    @property
    def per_project(self) -> bool:
        """True if each project's jobs are kept apart from every other project's."""
        return self.isolation is Isolation.FULL

    def tenant_ready(self, project_id: str) -> bool:
        """False if :meth:`tenant` may first have to create the user (slow)."""
        return self.tenants is None or self.tenants.known(project_id)

    def tenant(self, project_id: str) -> Tenant | None:
        return self.tenants.get(project_id) if self.tenants is not None else None

    def owner(self, project_id: str) -> tuple[int, int] | None:
        """Who owns a project's files (None: the service itself)."""
        tenant = self.tenant(project_id)
        return (tenant.uid, tenant.gid) if tenant is not None else None

    def release(self) -> None:
        """The service stops: give back what no running process of a project needs."""
        if self.tenants is not None:
            self.tenants.release_idle()

    def command(self, argv: Sequence[str], conf: Confinement) -> list[str]:
        """``argv`` run contained as ``conf`` says (as it is when isolation is off)."""
        if self.sandbox is None:
            return list(argv)
        return self.sandbox.command(argv, conf)

    def in_netns(self, argv: Sequence[str], tenant: Tenant | None) -> list[str]:
        """``argv`` started in the tenant's network namespace (for daemons)."""
        if tenant is None or tenant.netns_path is None:
            return list(argv)
        return ["nsenter", f"--net={tenant.netns_path}", "--", *argv]


def open_containment(settings: Settings, tools: Sequence[str | Path | None] = ()) -> Containment:
    """The containment this host gives for ``MRSJOBS_ISOLATION``; ``tools`` are commands
    that jobs run, which contained processes must see (the files alone, not what lies
    beside them)."""
    isolation, reason = detect(settings.isolation)
    if isolation is Isolation.OFF:
        if settings.isolation == "on":
            raise ContainmentUnavailable(f"MRSJOBS_ISOLATION=on, but jobs cannot be "
                                         f"contained here: {reason}")
        log.warning("jobs are NOT contained (%s): they run as the service, see its files "
                    "and reach its network; only one project's jobs will run", reason)
        return Containment(isolation, reason)
    files = [os.path.realpath(t) for t in tools if t and os.sep in str(t)]
    runtime = runtime_paths(settings.spark_dir, java_home(settings.java), *files)
    sandbox = Sandbox(runtime, (settings.data_dir / "sandbox").resolve())
    tenants = Tenants() if isolation is Isolation.FULL else None
    if tenants is None:
        log.warning("jobs are sandboxed but share this host's network (%s): only one "
                    "project's jobs will run", reason)
    return Containment(isolation, reason, sandbox, tenants)
