"""The API's documentation page at ``/docs``: Swagger UI on the OpenAPI document, its
scripts and styles served from this service (the copies ``fastapi-offline`` ships), so
that the page asks no other host for anything; its Content-Security-Policy says so."""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

DOCS = "/docs"
ASSETS = DOCS + "/assets"
ASSETS_DIR = Path(fastapi_offline.__file__).parent / "static"

#: Only this service: Swagger UI's page starts it with an inline script.
POLICY = ("default-src 'self'; script-src 'self' 'unsafe-inline'; "
          "style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; "
          "frame-ancestors 'none'")


def serve_docs(app: FastAPI, openapi_url: str) -> None:
    """Adds the page and its assets to ``app`` (outside the OpenAPI document)."""
    app.mount(ASSETS, StaticFiles(directory=ASSETS_DIR), name="docs-assets")

    @app.get(DOCS, include_in_schema=False)
    def docs() -> HTMLResponse:
        page = get_swagger_ui_html(
            openapi_url=openapi_url, title=f"{app.title} API",
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/favicon.png",
            # No validator badge: it would send the document to another host.
            swagger_ui_parameters={"validatorUrl": None})
        page.headers["Content-Security-Policy"] = POLICY
        return page
