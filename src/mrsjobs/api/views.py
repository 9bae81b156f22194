"""Jobs in the wire shapes the real clients parse."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..domain import Job


def java_list(items: Iterable[str]) -> str:
    """Java's ``List.toString()``: ``[a, b]``, the form MRS returns ``arguments`` in."""
    return "[" + ", ".join(items) + "]"


def java_map(items: Mapping[str, str]) -> str:
    """Java's ``Map.toString()``: ``{k=v, k2=v2}``, the form MRS returns ``properties`` in."""
    return "{" + ", ".join(f"{k}={v}" for k, v in items.items()) + "}"


def job_v2(job: Job) -> dict[str, Any]:
    """The v2 ``JobQueryBean``."""
    return {
        "job_id": job.id,
        "user": job.user,
        "job_name": job.name,
        "job_result": job.result.value,
        "job_state": job.state.value,
        "job_progress": job.progress,
        "job_type": job.type.value,
        "started_time": job.started_ms or 0,
        "submitted_time": job.submitted_ms,
        "finished_time": job.finished_ms or 0,
        "elapsed_time": job.elapsed_ms,
        "arguments": java_list(job.arguments),
        "properties": java_map(job.properties),
        "launcher_id": job.launcher_id or "",
        "app_id": job.app_id or "",
        "tracking_url": "",
        "queue": job.queue,
    }
