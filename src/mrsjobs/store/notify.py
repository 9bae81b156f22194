"""Kill requests for this instance's jobs, pushed by PostgreSQL LISTEN/NOTIFY.

A kill may arrive at any instance; the store records it and notifies the job's owner
in the same transaction. This listener makes that fast; the owner's periodic look at
its pending kills remains the guarantee, so a dropped connection only slows a kill.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import psycopg
from sqlalchemy.engine import make_url

from .statements import KILL_CHANNEL

log = logging.getLogger(__name__)


class KillListener:
    def __init__(self, url: str, owner: str, on_kill: Callable[[str], None]) -> None:
        # psycopg takes a libpq URL: the SQLAlchemy driver suffix goes.
        self._dsn = make_url(url).set(drivername="postgresql").render_as_string(
            hide_password=False)
        self._owner = owner
        self._on_kill = on_kill
        self._stop = threading.Event()
        self._listening = threading.Event()
        self._thread = threading.Thread(target=self._run, name="kill-listener", daemon=True)

    def start(self, timeout: float = 10.0) -> None:
        self._thread.start()
        # Best effort: without the listener, kills still arrive by polling.
        if not self._listening.wait(timeout):
            log.warning("kill listener not connected yet; relying on polling")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._listen()
            except psycopg.Error as exc:
                self._listening.clear()
                log.warning("kill listener: %s; reconnecting", exc)
                self._stop.wait(1.0)

    def _listen(self) -> None:
        with psycopg.connect(self._dsn, autocommit=True) as conn:
            conn.execute(f"LISTEN {KILL_CHANNEL}")
            self._listening.set()
            while not self._stop.is_set():
                for note in conn.notifies(timeout=0.5):
                    owner, _, job_id = note.payload.partition(" ")
                    if owner == self._owner:
                        self._on_kill(job_id)
