"""Retention: finished jobs and their run directories are purged once they are older
than the retention period; run directories without a job record are swept too.

The purger runs in a thread of its own beside the API and the supervisor. Records go
first, in bounded batches (each one short transaction, so submits and dispatch never
wait long behind it), then the directories of the jobs just deleted. A directory with
no record is removed only once it is older than the cut-off itself, so the directory
of a job being submitted right now is never touched.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..store import Store

log = logging.getLogger(__name__)

# How many directory names to look up in one query.
_LOOKUP_CHUNK = 500


@dataclass(frozen=True)
class RetentionConfig:
    retention_s: float
    interval_s: float
    runs_dir: Path
    batch: int = 1000


@dataclass
class Purged:
    jobs: int = 0
    dirs: int = 0
    orphans: int = 0


def _is_job_dir(name: str) -> bool:
    try:
        return str(uuid.UUID(name)) == name
    except ValueError:
        return False


class Purger:
    def __init__(self, store: Store, config: RetentionConfig,
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.config = config
        self.clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def cutoff_ms(self) -> int:
        return int((self.clock() - self.config.retention_s) * 1000)

    # -- one pass -------------------------------------------------------------------

    def purge_batch(self, cutoff_ms: int) -> int:
        """Delete at most one batch of expired jobs, then their directories."""
        ids = self.store.purge_finished(cutoff_ms, self.config.batch)
        for job_id in ids:
            self._remove(job_id)
        return len(ids)

    def sweep_orphans(self, cutoff_ms: int) -> int:
        """Remove run directories older than the cut-off that have no job record."""
        old: list[str] = []
        try:
            entries = list(os.scandir(self.config.runs_dir))
        except FileNotFoundError:
            return 0
        for entry in entries:
            try:
                if (_is_job_dir(entry.name) and entry.is_dir(follow_symlinks=False)
                        and entry.stat(follow_symlinks=False).st_mtime * 1000 < cutoff_ms):
                    old.append(entry.name)
            except FileNotFoundError:
                continue
        removed = 0
        for i in range(0, len(old), _LOOKUP_CHUNK):
            chunk = old[i:i + _LOOKUP_CHUNK]
            known = self.store.known_job_ids(chunk)
            for name in chunk:
                if name not in known:
                    self._remove(name)
                    removed += 1
        return removed

    def purge_once(self) -> Purged:
        """Everything expired now, batch after batch; stops early when asked to stop."""
        cutoff = self.cutoff_ms()
        done = Purged()
        while not self._stop.is_set():
            n = self.purge_batch(cutoff)
            done.jobs += n
            done.dirs += n
            if n < self.config.batch:
                break
        if not self._stop.is_set():
            done.orphans = self.sweep_orphans(cutoff)
        return done

    def _remove(self, job_id: str) -> None:
        shutil.rmtree(self.config.runs_dir / job_id, ignore_errors=True)

    # -- the thread -----------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="retention", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)

    def _run(self) -> None:
        while True:
            try:
                done = self.purge_once()
                if done.jobs or done.orphans:
                    log.info("retention: purged %d jobs, %d orphan run directories",
                             done.jobs, done.orphans)
            except Exception:
                # A failed pass (database away, say) is tried again next time.
                log.exception("retention pass failed")
            if self._stop.wait(self.config.interval_s):
                return
