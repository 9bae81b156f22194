"""The service's log lines: as text (the default), or one JSON object per line
(``MRSJOBS_LOG_FORMAT=json``) with the time, level, logger and message, and the
request id, project and job of the request or job the line was written for.

That context lives in a context variable: the API opens one per request
(:func:`begin`), the code that learns the project or the job adds it (:func:`note`),
and each supervisor task opens its own for its job. It is one mutable mapping per
request, so that what a route's worker thread notes is seen by the request's last line.
"""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar, Token
from typing import Literal

from pythonjsonlogger.json import JsonFormatter

LogFormat = Literal["text", "json"]
FIELDS = ("request_id", "project_id", "job_id")

_context: ContextVar[dict[str, str] | None] = ContextVar("mrsjobs_log_context", default=None)


def begin(**fields: str) -> Token[dict[str, str] | None]:
    """A new context (a request's, a job task's) for the lines written under it."""
    return _context.set({k: v for k, v in fields.items() if v})


def end(token: Token[dict[str, str] | None]) -> None:
    _context.reset(token)


def note(**fields: str | None) -> None:
    """Adds what became known (the project, the job) to the current context."""
    found = _context.get()
    if found is None:
        found = {}
        _context.set(found)
    found.update({k: v for k, v in fields.items() if v})


class ContextFilter(logging.Filter):
    """Puts the current context's fields on every record that passes."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in (_context.get() or {}).items():
            setattr(record, key, value)
        return True


class _JsonHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The root logger's JSON handler (to find it again)."""


def json_formatter() -> logging.Formatter:
    # time: ISO 8601 in UTC with microseconds.
    return JsonFormatter("%(levelname)s %(name)s %(message)s", timestamp="time",
                         rename_fields={"levelname": "level", "name": "logger"},
                         json_ensure_ascii=False)


def configure(log_format: LogFormat, *, requests: bool = False) -> None:
    """Route the service's lines (and uvicorn's) to stderr in ``log_format``. Text keeps
    the handlers as they are; JSON gives the root logger a JSON handler, and every
    handler uvicorn set up the JSON format too. ``requests``: a line per request."""
    if requests:
        logging.getLogger("mrsjobs.requests").setLevel(logging.INFO)
    if log_format != "json":
        if requests:
            logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s %(message)s")
        return
    formatter = json_formatter()
    context = ContextFilter()
    root = logging.getLogger()
    if any(isinstance(h, _JsonHandler) for h in root.handlers):
        return  # a second app in this process: configured already
    handler = _JsonHandler(sys.stderr)
    handler.setFormatter(formatter)
    handler.addFilter(context)
    root.addHandler(handler)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        for existing in logging.getLogger(name).handlers:
            existing.setFormatter(formatter)
            existing.addFilter(context)
