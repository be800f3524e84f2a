"""The dashboard as one FastAPI app: pages, the JSON API (OpenAPI on /docs), the static files
(the vendored chart library among them), the token gate when one is set, and errors as one
line (a 404 for what is not there, a 400 for a bad filter, never a traceback)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles

from autotrader.errors import ConfigError
from autotrader.research.queries import NotFound
from autotrader.web import api, pages
from autotrader.web.auth import TokenGate
from autotrader.web.data import Dashboard

STATIC = Path(__file__).parent / "static"
STATIC_MAX_AGE_SECS = 600  # the chart library is 200 KB: fetched once per visit, not per page
log = logging.getLogger("autotrader.web")


class CachedStatic(StaticFiles):
    """The package's own files, which browsers may keep for a while."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["Cache-Control"] = f"public, max-age={STATIC_MAX_AGE_SECS}"
        return response


def _error(request: Request, status: int, message: str) -> Response:
    if request.url.path.startswith("/api/"):
        return JSONResponse({"detail": message}, status_code=status)
    page: Response = request.app.state.templates.TemplateResponse(
        request,
        "error.html",
        {
            "status": status,
            "message": message,
            "active": "",
            "runs": [],
            "current": None,
            "run_id": None,
            "scope": "",
            "db_path": "",
            "settings": None,
        },
        status_code=status,
    )
    return page


def create_app(site: Dashboard, token: str | None = None) -> FastAPI:
    app = FastAPI(
        title="autotrader dashboard",
        summary="A read-only view of one autotrader database: runs, cycles, traces, trades, "
        "research.",
        version="1",
    )
    app.state.dashboard = site
    app.state.templates = pages.templates()
    app.mount("/static", CachedStatic(directory=STATIC), name="static")
    app.include_router(api.router)
    app.include_router(pages.router)

    @app.exception_handler(NotFound)
    async def not_found(request: Request, error: NotFound) -> Response:
        return _error(request, 404, str(error))

    @app.exception_handler(ConfigError)
    async def bad_request(request: Request, error: ConfigError) -> Response:
        return _error(request, 400, str(error))

    @app.exception_handler(Exception)
    async def failed(request: Request, error: Exception) -> Response:
        log.exception("dashboard request %s failed", request.url.path)
        return _error(request, 500, f"the dashboard failed: {type(error).__name__}: {error}")

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> PlainTextResponse:
        return PlainTextResponse("ok")

    if token:
        app.add_middleware(TokenGate, token=token)
    return app
