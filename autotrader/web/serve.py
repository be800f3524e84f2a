"""`runner.py serve`: check the address and token, open the database read-only, load the
candle file replay runs are shown on, and run the app on uvicorn until Ctrl-C."""

from __future__ import annotations

import errno
import socket
from pathlib import Path

from autotrader.config import Settings
from autotrader.db.readonly import open_readonly
from autotrader.errors import AutotraderError, DataError
from autotrader.exchange.candles import CandleFile, load_candles
from autotrader.research import queries
from autotrader.web.app import create_app
from autotrader.web.auth import require_token_off_loopback
from autotrader.web.data import Dashboard, market_json, performance_of, posterior_json, series_json


class AddressInUse(AutotraderError):
    """The port is taken (another dashboard?)."""


def _check_free(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise AddressInUse(
                    f"{host}:{port} is already in use; stop what runs there or pass --port"
                ) from None
            raise AddressInUse(f"cannot listen on {host}:{port}: {error.strerror}") from None


def candle_file(settings: Settings) -> tuple[CandleFile | None, Path | None]:
    """The file replay runs are drawn on (REPLAY_PATH or the bundled candles)."""
    path = settings.resolved_replay_path
    try:
        return load_candles(path), path
    except (DataError, OSError):
        return None, None  # the market page falls back to the runs' own prices


def build(settings: Settings) -> Dashboard:
    db = open_readonly(settings.db_path)
    candles, path = candle_file(settings)
    return Dashboard(db, settings, candles, path)


def warm(site: Dashboard) -> None:
    """Build the newest run's charts before the first visitor asks (a month takes ~0.3 s)."""
    try:
        newest = queries.run_overview(site.db, None)
    except queries.NotFound:
        return
    performance_of(site, newest)
    series_json(site, newest)
    market_json(site, newest)
    posterior_json(site, newest)


def serve(settings: Settings, host: str, port: int, token: str | None) -> None:
    import uvicorn

    require_token_off_loopback(host, token)
    site = build(settings)
    _check_free(host, port)
    warm(site)
    shown = f"[{host}]" if ":" in host else host
    print(
        f"autotrader dashboard on http://{shown}:{port}/  (read-only: {settings.db_path}; "
        f"API docs on /docs; Ctrl-C stops it)",
        flush=True,
    )
    uvicorn.run(create_app(site, token), host=host, port=port, log_level="warning")
