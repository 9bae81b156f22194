"""Waiting for a condition with a timeout, and a free local port."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import Literal, TypeVar

T = TypeVar("T")


class Timeout(AssertionError):
    """A condition did not come true in time (a failed assertion to a test)."""


def wait_for(predicate: Callable[[], T | Literal[False] | None], timeout: float = 10.0,
             interval: float = 0.01, message: str = "condition") -> T:
    """Poll ``predicate`` until it returns something truthy; raise after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise Timeout(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port
