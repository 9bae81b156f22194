"""A cluster-mode driver's stdout and stderr, copied from its worker's log page into
the job's run directory as they grow, so that they are kept with the job as a local
job's logs are (``stdout.log``, ``stderr.log``) and outlive the worker's copy.

The worker serves ``/log/?driverId=D&logType=stderr&offset=N&byteLength=M`` as plain
text headed by one line, ``==== Bytes A-B of TOTAL of PATH ====``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from .rest import SparkRestError

STREAMS = ("stdout", "stderr")
#: Asked for per request; a longer log is read in several.
CHUNK_BYTES = 1 << 20
_HEADER = re.compile(rb"==== Bytes (\d+)-(\d+) of (\d+) of [^\n]*====\n")
#: The line a driver's scheduler logs once the master has registered its application.
_APP_ID = re.compile(rb"Connected to Spark cluster with app ID (app-[0-9]+-[0-9]+)")


@dataclass
class DriverLogs:
    """The copy of one driver's logs. ``max_bytes`` bounds each stream's copy (0: no
    bound); what is beyond it is dropped with one marker line."""

    driver_id: str
    run_dir: Path
    max_bytes: int = 0
    #: Bytes of each stream copied so far (its offset on the worker).
    copied: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STREAMS, 0))
    capped: set[str] = field(default_factory=set)
    app_id: str | None = None
    _tail: bytes = b""

    def __post_init__(self) -> None:
        # A copy made before a restart goes on where it stopped.
        for name in STREAMS:
            path = self.path(name)
            if path.exists():
                self.copied[name] = path.stat().st_size
                if self.max_bytes and self.copied[name] >= self.max_bytes:
                    self.capped.add(name)
        stderr = self.path("stderr")
        if stderr.exists():
            with open(stderr, "rb") as f:
                found = _APP_ID.search(f.read(CHUNK_BYTES))
            self.app_id = found.group(1).decode() if found else None

    def path(self, stream: str) -> Path:
        return self.run_dir / f"{stream}.log"

    def pull(self, http: httpx.Client, worker_url: str) -> None:
        """Copy what the streams gained since the last pull; SparkRestError if the
        worker cannot be read."""
        for name in self.open_streams():
            self.pull_stream(http, worker_url, name)

    def open_streams(self) -> list[str]:
        """The streams still copied (not capped). Each keeps its own offset, so two
        of them may be pulled at once."""
        return [name for name in STREAMS if name not in self.capped]

    def pull_stream(self, http: httpx.Client, worker_url: str, stream: str) -> None:
        while True:
            offset = self.copied[stream]
            try:
                answer = http.get(f"{worker_url.rstrip('/')}/log/", params={
                    "driverId": self.driver_id, "logType": stream, "offset": offset,
                    "byteLength": CHUNK_BYTES})
            except httpx.TransportError as exc:
                raise SparkRestError(f"{worker_url} unreachable: {exc!r}",
                                     unreachable=True) from exc
            if answer.status_code != 200:
                raise SparkRestError(f"{stream} of {self.driver_id}: HTTP "
                                     f"{answer.status_code}", status=answer.status_code)
            head = _HEADER.match(answer.content)
            if head is None:
                return  # not written yet: the page says so in words
            start, end, total = (int(g) for g in head.groups())
            data = answer.content[head.end():]
            if start != offset or len(data) != end - start:
                return  # the page changed under us: next time
            self._append(stream, data)
            if end >= total or not data or stream in self.capped:
                return

    def _append(self, stream: str, data: bytes) -> None:
        if stream == "stderr" and self.app_id is None:
            # The line may straddle two pulls: keep the end of the last one.
            found = _APP_ID.search(self._tail + data)
            if found:
                self.app_id = found.group(1).decode()
            self._tail = data[-200:]
        keep = data
        if self.max_bytes and self.copied[stream] + len(data) > self.max_bytes:
            keep = data[:max(0, self.max_bytes - self.copied[stream])]
            self.capped.add(stream)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with open(self.path(stream), "ab") as f:
            f.write(keep)
            if stream in self.capped:
                f.write(f"\n[mrsjobs: {stream} is longer than {self.max_bytes} bytes; "
                        f"the rest is on the worker]\n".encode())
        self.copied[stream] += len(data)
