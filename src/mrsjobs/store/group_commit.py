"""Group commit: concurrent submitters hand their rows to one writer, which inserts
all that are waiting in one statement and one transaction, then wakes each of them.

On PostgreSQL a commit waits for its WAL flush; a hundred submitters committing one
row each mostly wait for flushes (and on the counter rows their triggers update).
One transaction for all that arrived meanwhile costs one flush. A submitter returns
only once its row is committed, so a 202 still means "durable", and if the batch
fails every submitter in it gets the error, never a silent loss.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any

from sqlalchemy import Connection

#: Inserts what the callers handed over, in the transaction it is given.
InsertMany = Callable[[Connection, Sequence[Any]], None]


#: How long a submitter waits for its commit before it gives up with an error.
COMMIT_TIMEOUT_S = 60.0


class GroupCommitClosed(RuntimeError):
    """The writer has stopped; nothing more is accepted."""


class GroupCommit:
    def __init__(self, begin: Callable[[], Any], insert_many: InsertMany,
                 max_batch: int = 500) -> None:
        """``begin()`` is a context manager yielding a connection in a transaction."""
        self._begin = begin
        self._insert_many = insert_many
        self._max_batch = max_batch
        self._cond = threading.Condition()
        self._pending: list[tuple[Any, Future[None]]] = []
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="group-commit", daemon=True)
        self._thread.start()

    def insert(self, values: Any, timeout: float | None = COMMIT_TIMEOUT_S) -> None:
        """Insert one item; returns once it is committed, raises if its batch failed."""
        self.submit(values).result(timeout)

    def submit(self, values: Any) -> Future[None]:
        """Queue one item; the future resolves once it is committed (or its batch failed)."""
        fut: Future[None] = Future()
        with self._cond:
            if self._closed:
                raise GroupCommitClosed("the store is closed")
            self._pending.append((values, fut))
            self._cond.notify()
        return fut

    def waiting(self) -> int:
        """How many rows are queued for the next batch."""
        with self._cond:
            return len(self._pending)

    def close(self) -> None:
        """Commit what is waiting, then stop the writer."""
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join(COMMIT_TIMEOUT_S)

    def _take(self) -> list[tuple[Any, Future[None]]] | None:
        with self._cond:
            while not self._pending and not self._closed:
                self._cond.wait()
            if not self._pending:
                return None
            batch = self._pending[:self._max_batch]
            del self._pending[:self._max_batch]
            # A caller that gave up before its batch began (a client gone, a request
            # cancelled) is dropped unwritten; a running future can no longer be
            # cancelled, so each caller is either committed and told so, or never was.
            return [(v, fut) for v, fut in batch if fut.set_running_or_notify_cancel()]

    def _run(self) -> None:
        while (batch := self._take()) is not None:
            if not batch:
                continue
            try:
                with self._begin() as conn:
                    self._insert_many(conn, [values for values, _ in batch])
            except Exception as exc:
                # Nothing of the batch is committed: every caller in it hears so.
                for _, fut in batch:
                    fut.set_exception(exc)
                continue
            for _, fut in batch:
                fut.set_result(None)
