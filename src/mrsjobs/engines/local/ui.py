"""A running Spark driver's UI, which the service proxies (see ``commands.ui_conf``): the
port it got and the application it shows, learnt while the job runs and kept in the
job's run directory (``ui.json``, the service's alone) for the proxy and for a
restarted service.

The port comes from the driver's log: Spark logs, at INFO (the level of its default
log4j profile, which spark-submit uses), ``Successfully started service 'SparkUI' on
port N.`` once the UI listens. A local driver logs its application id nowhere, so that
comes from the UI itself (``/api/v1/applications``). A job that lowers its log level
before its SparkContext starts has an untracked UI; it runs as well as any other.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from ...containment.tenants import in_netns

#: The line the driver logs once its UI listens.
UI_PORT = re.compile(rb"Successfully started service 'SparkUI' on port (\d{1,5})\.")
#: A local driver's application id (``local-<epoch ms>``).
LOCAL_APP_ID = re.compile(r"local-\d{1,20}")
#: The line comes among the driver's first: the log is not read beyond this.
SCAN_BYTES = 1 << 20
#: Asks of the UI's REST API for the application id before giving up.
APP_ID_TRIES = 60
RECORD = "ui.json"


def ui_port(data: bytes) -> int | None:
    """The UI's port from a piece of the driver's log, if the piece says it."""
    found = UI_PORT.search(data)
    if found is None:
        return None
    port = int(found.group(1))
    return port if 0 < port < 65536 else None


def app_id_of(listing: bytes) -> str | None:
    """The application id in the UI's ``/api/v1/applications`` answer, if one is there."""
    try:
        apps = json.loads(listing)
    except ValueError:
        return None
    if not isinstance(apps, list) or not apps or not isinstance(apps[0], dict):
        return None
    app_id = apps[0].get("id")
    return app_id if isinstance(app_id, str) and LOCAL_APP_ID.fullmatch(app_id) else None


@dataclass(frozen=True, slots=True)
class SparkUi:
    """Where a job's UI listens: ``port`` on 127.0.0.1 of ``netns`` (of the service's
    own namespace if None)."""

    port: int
    app_id: str
    netns: str | None = None

    def save(self, run_dir: Path) -> None:
        tmp = run_dir / (RECORD + ".tmp")
        tmp.write_text(json.dumps(asdict(self)))
        tmp.replace(run_dir / RECORD)

    @classmethod
    def load(cls, run_dir: Path) -> SparkUi | None:
        try:
            data = json.loads((run_dir / RECORD).read_text())
            return cls(int(data["port"]), str(data["app_id"]), data.get("netns"))
        except (OSError, ValueError, KeyError, TypeError):
            return None


def ask_app_id(port: int, netns: str | None, timeout_s: float = 2.0) -> str | None:
    """The application id the UI at ``port`` shows; None if it does not answer (yet).
    Blocks: the connection is made from ``netns``."""

    def ask() -> str | None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout_s)
        try:
            conn.request("GET", "/api/v1/applications")
            answer = conn.getresponse()
            return app_id_of(answer.read(1 << 16)) if answer.status == 200 else None
        except (OSError, http.client.HTTPException):
            return None
        finally:
            conn.close()

    return in_netns(Path(netns) if netns else None, ask)


async def find_ui(run_dir: Path, netns: str | None, offset: int,
                  poll_s: float) -> SparkUi | None:
    """The job's UI once the driver has logged its port (its stderr from ``offset``)
    and the UI names its application; None if the log's first ``SCAN_BYTES`` never
    name the port, or the UI never answers. Runs until then: the caller cancels it
    when the job ends."""
    port = await _port_from_log(run_dir / "stderr.log", offset, poll_s)
    if port is None:
        return None
    for _ in range(APP_ID_TRIES):
        app_id = await asyncio.to_thread(ask_app_id, port, netns)
        if app_id is not None:
            ui = SparkUi(port, app_id, netns)
            await asyncio.to_thread(ui.save, run_dir)
            return ui
        await asyncio.sleep(poll_s)
    return None


async def _port_from_log(path: Path, offset: int, poll_s: float) -> int | None:
    tail = b""
    end = offset + SCAN_BYTES
    while offset < end:
        data = b""
        with contextlib.suppress(OSError), open(path, "rb") as f:
            f.seek(offset)
            data = f.read(end - offset)
        if data:
            # The line may straddle two reads: keep the end of the last one.
            port = ui_port(tail + data)
            if port is not None:
                return port
            offset += len(data)
            tail = data[-200:]
        else:
            await asyncio.sleep(poll_s)
    return None


def log_size(run_dir: Path) -> int:
    """How long the job's stderr is already (a relaunch appends to an earlier attempt's)."""
    try:
        return (run_dir / "stderr.log").stat().st_size
    except OSError:
        return 0


def forget_ui(run_dir: Path) -> None:
    """Drop the record of an earlier attempt's UI."""
    (run_dir / RECORD).unlink(missing_ok=True)
