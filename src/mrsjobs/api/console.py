"""The web console at ``/console``: static files of the package (HTML, CSS and JavaScript
modules, no build step), served with headers that keep the page from weakening the API.

The page calls the same API routes as any client, with the token in ``X-Auth-Token``:
no cookie is ever set, so a request another site makes carries no credential (no CSRF).
Its Content-Security-Policy allows nothing but this origin and no inline script, so job
data that got into the page as markup could not run anyway.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from starlette.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send

PATH = "/console"
FILES = Path(__file__).resolve().parent.parent / "console"

POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
          "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; "
          "frame-ancestors 'none'")
HEADERS = {
    "content-security-policy": POLICY,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    # Small files, changed with the package: always revalidated (ETag), never stale.
    "cache-control": "no-cache",
}


class ConsoleFiles(StaticFiles):
    """Static files with the console's security headers on every answer."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", [])
                           if k.decode("latin-1").lower() not in HEADERS]
                headers += [(k.encode(), v.encode()) for k, v in HEADERS.items()]
                message = {**message, "headers": headers}
            await send(message)

        await super().__call__(scope, receive, send_with_headers)


def mount(app: FastAPI) -> None:
    """Serve the console at ``/console/`` (``/console`` redirects there)."""

    @app.get(PATH, include_in_schema=False)
    def console_root() -> RedirectResponse:
        return RedirectResponse(PATH + "/", status_code=308)

    app.mount(PATH, ConsoleFiles(directory=FILES, html=True), name="console")
