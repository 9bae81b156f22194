"""Jobs in the wire shapes the real clients parse."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from ..domain.jobs import Job
from .compat import V11_TYPE_CODE, sahara_status, v11_final_status, v11_state

#: Property names whose values are secrets: shown masked in every view (stored as given,
#: for the job needs them).
SECRET_NAME = re.compile(r"password|secret|token|\.key$", re.IGNORECASE)
MASK = "******"


def shown_properties(properties: Mapping[str, str]) -> dict[str, str]:
    """A job's properties as every view shows them: secret values masked."""
    return {k: MASK if SECRET_NAME.search(k) else v for k, v in properties.items()}


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
        "properties": java_map(shown_properties(job.properties)),
        "launcher_id": job.launcher_id or "",
        "app_id": job.app_id or "",
        "tracking_url": "",
        "queue": job.queue,
    }


def _s(ms: int | None) -> int | None:
    return None if ms is None else ms // 1000


def _iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _v11_common(job: Job) -> dict[str, Any]:
    sub = job.submission
    return {
        "id": job.id,
        "tenant_id": job.project_id,
        "job_id": job.app_id or "",
        "job_name": job.name,
        "cluster_id": job.cluster_id,
        "group_id": job.id,
        "jar_path": sub.get("jar_path", ""),
        "input": sub.get("input", ""),
        "output": sub.get("output", ""),
        "job_log": sub.get("job_log", ""),
        "job_type": V11_TYPE_CODE.get(job.type, 0),
        "file_action": sub.get("file_action", ""),
        "arguments": sub.get("arguments", " ".join(job.arguments)),
        "hql": sub.get("hql", ""),
        "job_state": int(v11_state(job)),
        "job_final_status": int(v11_final_status(job)),
        "hive_script_path": sub.get("hive_script_path", ""),
        "create_by": job.user,
        "update_by": job.kill_requested_by or job.user,
        "finished_step": 0,
        "job_main_id": "",
        "job_step_id": "",
        "step_name": "",
        "step_num": 0,
        "task_num": 0,
    }


def job_v11_submitted(job: Job) -> dict[str, Any]:
    """The v1.1 submit-job ``job_execution``: times in epoch seconds."""
    return {
        "templated": False,
        "created_at": _s(job.submitted_ms),
        "updated_at": _s(job.updated_ms),
        "input_id": None,
        "output_id": None,
        "start_time": _s(job.started_ms),
        "end_time": _s(job.finished_ms),
        "engine_job_id": None,
        "return_code": None if job.exit_code is None else str(job.exit_code),
        "is_public": None,
        "is_protected": False,
        "postpone_at": _s(job.submitted_ms),
        "credentials": "",
        "user_id": job.user,
        "job_configs": None,
        "extra": None,
        "data_source_urls": None,
        "info": None,
        **_v11_common(job),
    }


def job_v11_exe(job: Job) -> dict[str, Any]:
    """The v1.1 ``JobExeResult``: times in epoch milliseconds, create_at/update_at."""
    spend = None
    if job.started_ms is not None and job.finished_ms is not None:
        spend = (job.finished_ms - job.started_ms) / 1000
    return {
        "create_at": job.submitted_ms,
        "update_at": job.updated_ms,
        "start_time": job.started_ms,
        "end_time": job.finished_ms,
        "postpone_at": job.submitted_ms,
        "spend_time": spend,
        "step_seq": 0,
        "progress": f"{job.progress:g}",
        **_v11_common(job),
    }


def job_sahara(job: Job) -> dict[str, Any]:
    """The Sahara ``job_execution``: ISO times without zone; ``info.status`` from the state."""
    return {
        "id": job.id,
        "tenant_id": job.project_id,
        "job_id": "",
        "cluster_id": job.cluster_id,
        "created_at": _iso(job.submitted_ms),
        "updated_at": _iso(job.updated_ms),
        "start_time": _iso(job.started_ms),
        "end_time": _iso(job.finished_ms),
        "oozie_job_id": None,
        "engine_job_id": job.launcher_id,
        "return_code": None if job.exit_code is None else str(job.exit_code),
        "input_id": None,
        "output_id": None,
        "is_protected": False,
        "is_public": False,
        "job_configs": {"configs": shown_properties(job.properties),
                        "args": list(job.arguments),
                        "params": {}},
        "data_source_urls": None,
        "info": {"status": sahara_status(job).value},
    }
