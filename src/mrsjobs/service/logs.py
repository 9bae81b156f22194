"""A job's logs as they stand: a byte range of its stdout or stderr, or the log followed
while the job writes it, for callers who may see the job.

Every engine keeps a job's logs in the job's run directory as ``stdout.log`` and
``stderr.log``. A log longer than the cap is kept as head, marker and tail
(:class:`mrsjobs.engines.local.shim.CappedLog`): offsets then count in the log as it
stands, whose middle moves on while the job writes.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from ..domain.access import Identity
from ..domain.errors import JobNotFound
from ..domain.jobs import Job
from ..engines.local.shim import read_log, tail_parts
from .jobs import JobService

#: The most a read returns (and the default); a followed log comes in pieces this size.
MAX_READ_BYTES = 1 << 20
#: How often a followed log's file is looked at, and the job's record.
POLL_S = 0.05
JOB_POLL_S = 0.5


class LogStream(StrEnum):
    STDOUT = "stdout"
    STDERR = "stderr"


@dataclass(frozen=True, slots=True)
class LogChunk:
    """``data``: the log's bytes from ``offset``; ``size``: the log's length now;
    ``job``: the job as it was when the bytes were read. While following, the
    ``final`` chunk ends it (``gone``: the job was deleted meanwhile); an empty chunk
    before it says only that nothing new came for a while."""

    job: Job
    offset: int
    data: bytes
    size: int
    final: bool = False
    gone: bool = False

    @property
    def next_offset(self) -> int:
        return self.offset + len(self.data)


def log_path(job: Job, runs_dir: Path, stream: LogStream) -> Path:
    """Where the job's ``stream`` is kept: its run directory is under the runs
    directory of the instance that ran it."""
    root = Path(job.run_root) if job.run_root else runs_dir
    return root / job.id / f"{stream.value}.log"


def read_range(path: Path, offset: int, limit: int) -> tuple[bytes, int]:
    """The bytes [offset, offset + limit) of the log at ``path``, and its length now;
    a log that does not exist (yet) is empty."""
    if tail_parts(str(path)):  # past the cap while the job writes: head, marker, tail
        whole = read_log(str(path)) or b""
        return whole[offset:offset + limit], len(whole)
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if offset >= size:
                return b"", size
            f.seek(offset)
            return f.read(limit), size
    except FileNotFoundError:
        return b"", 0


def complete_utf8(data: bytes) -> int:
    """The length of ``data`` without a UTF-8 character cut off at its end (whose rest
    is still to be written)."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte < 0x80:
            return len(data)
        if byte >= 0xC0:  # a lead byte: is its sequence complete?
            need = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return len(data) if back >= need else len(data) - back
    return len(data)


class LogReader:
    """Reads and follows job logs; a follow ends with the job, when the job is gone,
    or when ``closing`` is set (the server is shutting down)."""

    def __init__(self, jobs: JobService, runs_dir: Path, *,
                 closing: threading.Event | None = None, poll_s: float = POLL_S,
                 job_poll_s: float = JOB_POLL_S) -> None:
        self.jobs = jobs
        self.runs_dir = runs_dir
        self.closing = closing or threading.Event()
        self.poll_s = poll_s
        self.job_poll_s = job_poll_s

    def read(self, who: Identity, project_id: str, cluster_id: str, job_id: str,
             stream: LogStream, offset: int = 0, limit: int = MAX_READ_BYTES) -> LogChunk:
        job = self.jobs.show(who, project_id, cluster_id, job_id)
        data, size = read_range(log_path(job, self.runs_dir, stream), offset, limit)
        return LogChunk(job, offset, data, size)

    async def follow(self, who: Identity, project_id: str, cluster_id: str, job_id: str,
                     stream: LogStream, offset: int = 0, *, idle_s: float = 15.0
                     ) -> AsyncIterator[LogChunk]:
        """The log from ``offset`` as it is written, in chunks that end on whole
        characters, until the job is terminal and all of it was given; the last chunk
        carries the job's final record. Raises what :meth:`read` raises if the caller
        may not see the job; a job deleted meanwhile ends the follow quietly."""
        job = await asyncio.to_thread(self.jobs.show, who, project_id, cluster_id, job_id)
        path = log_path(job, self.runs_dir, stream)
        checked = time.monotonic()
        last_sent = checked
        while not self.closing.is_set():
            now = time.monotonic()
            if now - checked >= self.job_poll_s and not job.terminal:
                try:
                    job = await asyncio.to_thread(self.jobs.show, who, project_id,
                                                  cluster_id, job_id)
                except JobNotFound:
                    yield LogChunk(job, offset, b"", 0, final=True, gone=True)
                    return
                path = log_path(job, self.runs_dir, stream)
                checked = now
            # The state is read before the file: a terminal job has written everything.
            ended = job.terminal
            data, size = read_range(path, offset, MAX_READ_BYTES)
            whole = data if ended else data[:complete_utf8(data)]
            if whole:
                yield LogChunk(job, offset, whole, size)
                offset += len(whole)
                last_sent = now
                continue
            if ended:
                yield LogChunk(job, offset, b"", size, final=True)
                return
            if now - last_sent >= idle_s:
                yield LogChunk(job, offset, b"", size)
                last_sent = now
            await asyncio.sleep(self.poll_s)
