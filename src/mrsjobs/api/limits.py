"""What every request is checked for before any route sees it: the size of its body
and the text of its path and query string."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..domain.errors import InvalidParameter, MrsError, PayloadTooLarge
from .errors import Envelopes
from .wire import check_text

#: The routes whose bodies have a limit of their own: file uploads (``max_upload_bytes``).
UNBOUNDED = (("PUT", re.compile(r"^/v2/[^/]+/clusters/[^/]+/files/?$")),)


class RequestLimits:
    """A pure ASGI middleware. A body over ``max_body_bytes`` is refused with 413: at once
    if its Content-Length says so (unread, before authentication), and as soon as the
    bytes received pass the limit otherwise (chunked). A NUL character in a query
    parameter is refused with 400 naming the parameter (path ids have patterns that
    refuse it, naming the id). Each refusal wears the envelope of the route that would
    have taken the request (``envelopes``)."""

    def __init__(self, app: ASGIApp, max_body_bytes: int,
                 envelopes: Envelopes | None = None) -> None:
        self.app = app
        self.limit = max_body_bytes
        self.envelopes = envelopes or Envelopes()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        refused = _bad_text(scope)
        if refused is None and not _unbounded(scope["method"], path):
            declared = dict(scope["headers"]).get(b"content-length", b"")
            if declared.isdigit() and int(declared) > self.limit:
                refused = PayloadTooLarge(self.limit)
            else:
                receive = self._counted(receive)
        if refused is not None:
            await self.envelopes.respond(scope, refused)(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except PayloadTooLarge as exc:
            # Read by something that let the error through: still the 413 it is.
            if started:
                raise
            await self.envelopes.respond(scope, exc)(scope, receive, send)

    def _counted(self, receive: Receive) -> Receive:
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise PayloadTooLarge(self.limit)
            return message

        return counted


def _unbounded(method: str, path: str) -> bool:
    return any(method == m and pattern.match(path) for m, pattern in UNBOUNDED)


def _bad_text(scope: Scope) -> MrsError | None:
    """InvalidParameter if a query parameter (name or value) holds a NUL."""
    try:
        query = scope.get("query_string", b"").decode("latin-1")
        # As Starlette decodes it: undecodable bytes become U+FFFD, never surrogates.
        for name, value in parse_qsl(query, keep_blank_values=True):
            check_text(name, name)
            check_text(name, value)
    except InvalidParameter as exc:
        return exc
    return None
