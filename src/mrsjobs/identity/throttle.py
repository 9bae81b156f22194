"""Abuse limits of the identity checks: failed sign-ins counted per source address and
per user name or access key in a sliding window, and password hashing (scrypt, 16 MiB
and tens of ms each) run a few at a time. Both answer :class:`TooManyRequests` (429
with ``Retry-After``) before the expensive check, never after it.

In memory and per instance: several instances each count on their own.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from ..domain.errors import TooManyRequests

if TYPE_CHECKING:
    from ..settings import Settings

Clock = Callable[[], float]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Limits:
    #: Failures per key within ``signin_window_s`` before 429; 0: no throttle.
    signin_failures: int = 10
    signin_window_s: float = 60.0
    #: Keys kept per kind (sources; user names and access keys); the stalest go first.
    tracked_keys: int = 10_000
    #: scrypt runs at once; 0: no bound.
    hash_concurrency: int = 2
    #: How long a sign-in waits for a turn at scrypt before 429; at most
    #: ``hash_queue`` wait at once, the others get 429 at once.
    hash_wait_s: float = 1.0
    hash_queue: int = 8

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        concurrency = settings.hash_concurrency
        if concurrency is None:
            concurrency = os.cpu_count() or 1
        return cls(signin_failures=settings.signin_failures,
                   signin_window_s=settings.signin_window_s,
                   tracked_keys=settings.signin_tracked_keys,
                   hash_concurrency=concurrency, hash_wait_s=settings.hash_wait_s,
                   hash_queue=4 * concurrency)


class FailureWindow:
    """Failures per key in a sliding window: a key with ``limit`` failures in the last
    ``window_s`` seconds is refused until the oldest of them is ``window_s`` old.

    Memory is bounded: at most ``limit`` times per key and ``max_keys`` keys; past that
    the key whose last failure is the oldest is forgotten. Thread-safe.
    """

    def __init__(self, limit: int, window_s: float, max_keys: int = 10_000,
                 clock: Clock = time.monotonic) -> None:
        self.limit = limit
        self.window_s = window_s
        self.max_keys = max(1, max_keys)
        self.clock = clock
        # Ordered by last failure, oldest first: expired keys gather at the front.
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._failures)

    def retry_after(self, key: str) -> float:
        """Seconds until ``key`` may try again; 0 if it may now."""
        if self.limit <= 0:
            return 0.0
        with self._lock:
            times = self._failures.get(key)
            if times is None or len(times) < self.limit:
                return 0.0
            return max(0.0, times[0] + self.window_s - self.clock())

    def fail(self, key: str) -> None:
        if self.limit <= 0:
            return
        now = self.clock()
        with self._lock:
            times = self._failures.pop(key, None) or deque(maxlen=self.limit)
            times.append(now)
            self._failures[key] = times
            self._prune(now)

    def forget(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)

    def _prune(self, now: float) -> None:
        while self._failures:
            oldest, times = next(iter(self._failures.items()))
            if len(self._failures) <= self.max_keys and times[-1] > now - self.window_s:
                return
            del self._failures[oldest]


class SignInGuard:
    """Failed sign-ins per source address and per subject (a user name, an access key
    id). A subject is counted by its name whether or not it exists, so the answers do
    not tell which names do."""

    def __init__(self, limits: Limits, clock: Clock = time.monotonic) -> None:
        args = (limits.signin_failures, limits.signin_window_s, limits.tracked_keys, clock)
        self.sources = FailureWindow(*args)
        self.subjects = FailureWindow(*args)

    def check(self, source: str | None, subject: str | None = None) -> None:
        """Raise :class:`TooManyRequests` if the source or the subject is over the limit."""
        waits = []
        if source is not None:
            waits.append((self.sources.retry_after(source), "too many failed sign-ins "
                                                             "from this address"))
        if subject is not None:
            waits.append((self.subjects.retry_after(subject), "too many failed sign-ins "
                                                               "for this user or key"))
        wait, reason = max(waits, default=(0.0, ""))
        if wait > 0:
            raise TooManyRequests(reason, math.ceil(wait))

    def failed(self, source: str | None, subject: str | None = None) -> None:
        if source is not None:
            self.sources.fail(source)
        if subject is not None:
            self.subjects.fail(subject)

    def succeeded(self, subject: str) -> None:
        """The subject proved itself: its own count starts again. The source's count
        stands, so one good account does not clear a guesser's record."""
        self.subjects.forget(subject)


class BoundedPool:
    """Runs a function on one of ``limit`` threads of its own (scrypt's 16 MiB then come
    from a few malloc arenas, not from one of every request thread, which keep them).
    A caller waits up to ``wait_s`` for its turn, and at most ``queue`` wait at once;
    the others get :class:`TooManyRequests` at once, so a flood costs neither threads
    nor memory for long. ``limit`` 0: the caller's thread runs it, with no bound."""

    def __init__(self, limit: int, wait_s: float, queue: int) -> None:
        self.limit = limit
        self.wait_s = wait_s
        self.queue = queue
        self._pool = ThreadPoolExecutor(max(1, limit), thread_name_prefix="mrsjobs-hash")
        self._pending = 0
        self._lock = threading.Lock()

    @property
    def pending(self) -> int:
        """Calls running or waiting."""
        return self._pending

    def run(self, fn: Callable[[], T]) -> T:
        if self.limit <= 0:
            return fn()
        with self._lock:
            if self._pending >= self.limit + self.queue:
                raise TooManyRequests("too many sign-ins at once", 1)
            self._pending += 1
        try:
            future = self._pool.submit(fn)
            try:
                return future.result(timeout=self.wait_s)
            except FutureTimeout:
                if future.cancel():  # still waiting for a turn
                    raise TooManyRequests("too many sign-ins at once", 1) from None
                return future.result()  # started: it ends soon
        finally:
            with self._lock:
                self._pending -= 1
