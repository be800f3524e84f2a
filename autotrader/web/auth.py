"""Access to the dashboard: open on a loopback address; elsewhere only with DASHBOARD_TOKEN,
given as `Authorization: Bearer <token>`, as `?token=<token>` (which also sets a cookie, so
links and the pages' own requests keep working), or as that cookie."""

from __future__ import annotations

import hmac
import ipaddress

from fastapi import Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.types import ASGIApp

from autotrader.errors import ConfigError

COOKIE = "autotrader_dashboard"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def require_token_off_loopback(host: str, token: str | None) -> None:
    """ConfigError (one line) when binding beyond this machine without a token."""
    if not is_loopback(host) and not token:
        raise ConfigError(
            f"--host {host} is reachable from other machines: set DASHBOARD_TOKEN to a secret "
            "(clients send it as a bearer token or ?token=), or bind to 127.0.0.1"
        )


def _given(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.query_params.get("token") or request.cookies.get(COOKIE)


class TokenGate(BaseHTTPMiddleware):
    def __init__(self, app: ASGIApp, token: str) -> None:
        super().__init__(app)
        self._token = token.encode()

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        given = _given(request)
        if given is None or not hmac.compare_digest(given.encode(), self._token):
            message = "this dashboard needs its token: Authorization: Bearer <token>, or ?token="
            if request.url.path.startswith("/api/"):
                return JSONResponse({"detail": message}, status_code=401)
            return PlainTextResponse(message, status_code=401)
        response = await call_next(request)
        if request.query_params.get("token"):
            response.set_cookie(COOKIE, given, httponly=True, samesite="strict")
        return response
