"""The dashboard without a browser (FastAPI's TestClient): every page renders from a finished
run without a raw float or a traceback, the API's pages are bounded and documented, filters and
traces behave, the token gate holds, and nothing is ever written."""

from __future__ import annotations

import csv
import hashlib
import html
import io
import re
import sqlite3
from collections.abc import Iterator
from contextlib import redirect_stderr
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from autotrader.cli import main
from autotrader.config import load_settings
from autotrader.db import Database
from autotrader.errors import ConfigError
from autotrader.web.app import create_app
from autotrader.web.auth import require_token_off_loopback
from autotrader.web.serve import build

PAGES = ("/", "/market", "/cycles", "/research", "/trades", "/runs")
RAW_FLOAT = re.compile(r"\d\.\d{9,}")  # what repr() of a float looks like, not a person


def visible_text(page: str) -> str:
    """Roughly what a reader sees: no scripts, closed <details> bodies or tags."""
    page = re.sub(r"<script.*?</script>", " ", page, flags=re.S)
    page = re.sub(r"<details(?![^>]*open).*?</details>", " ", page, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


def _rows(path: Path, query: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as raw:
        return raw.execute(query).fetchall()


def client_for(path: Path, token: str | None = None) -> TestClient:
    settings = load_settings(env_file=None, db_path=path)
    return TestClient(create_app(build(settings), token), raise_server_exceptions=False)


@pytest.fixture(scope="module")
def client(replay_db: Path) -> Iterator[TestClient]:
    with client_for(replay_db) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def trace_id(replay_db: Path) -> str:
    return str(_rows(replay_db, "SELECT trace_id FROM cycles WHERE executed = 1 LIMIT 1")[0][0])


@pytest.mark.parametrize("path", PAGES)
def test_every_page_renders_for_people(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    text = visible_text(response.text)
    assert RAW_FLOAT.findall(text) == []
    assert "Traceback" not in response.text


def test_the_trace_page_shows_the_span_tree_with_timings(client: TestClient, trace_id: str) -> None:
    response = client.get(f"/trace/{trace_id[6:14]}")
    assert response.status_code == 200
    for name in ("Planner", "Trader", "Judge", "get_ohlcv", "pre_trade_check", "deposit_cap"):
        assert f'data-name="{name}"' in response.text
    assert RAW_FLOAT.findall(visible_text(response.text)) == []
    assert " ms" in visible_text(response.text)


def test_the_overview_compares_with_both_benchmarks(client: TestClient) -> None:
    text = visible_text(client.get("/").text)
    assert "buy & hold (all in)" in text and "matched" in text
    overview = client.get("/api/overview").json()
    matched = overview["performance"]["exposure_matched"]
    hold = overview["performance"]["buy_and_hold"]
    exposure = overview["performance"]["mean_exposure"]
    assert matched == pytest.approx(hold * exposure)
    assert overview["display"]["buy_and_hold"] in text


def test_the_cycles_filter_matches_the_table(client: TestClient, replay_db: Path) -> None:
    expected = _rows(replay_db, "SELECT count(*) FROM cycles WHERE executed = 1")[0][0]
    api = client.get("/api/cycles", params={"executed": "yes", "limit": 500}).json()
    assert api["total"] == expected == len(api["items"])
    assert all(item["fills"] for item in api["items"])
    page = client.get("/cycles", params={"executed": "yes"}).text
    assert page.count('class="cycle-row"') == expected


def test_a_bad_filter_is_a_400_in_one_line(client: TestClient) -> None:
    response = client.get("/api/cycles", params={"action": "SHORT"})
    assert response.status_code == 400
    assert response.json() == {"detail": "filter action='SHORT': use one of BUY, SELL, HOLD"}
    assert client.get("/cycles", params={"action": "SHORT"}).status_code == 400


def test_api_pages_are_bounded(client: TestClient) -> None:
    assert client.get("/api/cycles", params={"limit": 501}).status_code == 422
    page = client.get("/api/cycles").json()
    assert page["limit"] == 50 and len(page["items"]) <= 50
    series = client.get("/api/series").json()
    assert 0 < len(series["time"]) == len(series["equity"]) <= 1200


def test_the_api_is_documented(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in (
        "/api/runs",
        "/api/cycles",
        "/api/traces/{trace_id}",
        "/api/trades",
        "/api/research",
    ):
        assert path in paths
    assert client.get("/docs").status_code == 200


def test_the_market_marks_each_fill_on_its_candle(client: TestClient, replay_db: Path) -> None:
    market = client.get("/api/market").json()
    times = {c[0] for c in market["candles"]}
    assert market["step_secs"] == 300 and "replayed" in market["source"]
    assert len(market["fills"]) == _rows(replay_db, "SELECT count(*) FROM trades")[0][0]
    assert all(f["time"] in times for f in market["fills"])


def test_the_trades_csv_lists_every_fill_with_round_trip_pnl(
    client: TestClient, replay_db: Path
) -> None:
    response = client.get("/trades.csv")
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == _rows(replay_db, "SELECT count(*) FROM trades")[0][0]
    assert all(r["round_trip_pnl"] for r in rows if r["side"] == "SELL")


def test_an_unknown_trace_or_run_is_a_404_not_a_traceback(client: TestClient) -> None:
    for path in ("/trace/abcdef12", "/api/traces/abcdef12", "/?run=run_nope"):
        response = client.get(path)
        assert response.status_code == 404 and "Traceback" not in response.text


def test_an_empty_database_shows_how_to_start(tmp_path: Path) -> None:
    Database.open(tmp_path / "empty.db").close()
    with client_for(tmp_path / "empty.db") as empty:
        assert "No run yet" in empty.get("/").text
        assert empty.get("/api/status").json()["state"] == "no run yet"


def test_serving_never_writes_the_database(replay_db: Path, trace_id: str) -> None:
    before = hashlib.sha256(replay_db.read_bytes()).hexdigest()
    with client_for(replay_db) as fresh:
        for path in (*PAGES, f"/trace/{trace_id}", "/api/overview", "/api/research"):
            assert fresh.get(path).status_code == 200
    assert hashlib.sha256(replay_db.read_bytes()).hexdigest() == before


def test_a_token_gates_pages_and_api(replay_db: Path) -> None:
    with client_for(replay_db, token="s3cret") as gated:
        assert gated.get("/api/status").status_code == 401
        assert gated.get("/").status_code == 401
        bearer = {"Authorization": "Bearer s3cret"}
        assert gated.get("/api/status", headers=bearer).status_code == 200
        assert gated.get("/api/status", headers={"Authorization": "Bearer nope"}).status_code == 401
        assert gated.get("/", params={"token": "s3cret"}).status_code == 200
        assert gated.get("/market").status_code == 200  # the cookie ?token= set


def test_listening_beyond_loopback_needs_a_token() -> None:
    require_token_off_loopback("127.0.0.1", None)
    require_token_off_loopback("::1", None)
    require_token_off_loopback("0.0.0.0", "s3cret")
    with pytest.raises(ConfigError, match="set DASHBOARD_TOKEN"):
        require_token_off_loopback("0.0.0.0", None)


def test_serve_says_so_in_one_line_when_the_token_is_missing(replay_db: Path) -> None:
    err = io.StringIO()
    with redirect_stderr(err):
        assert main(["serve", "--host", "0.0.0.0", "--db", str(replay_db)]) == 2
    lines = err.getvalue().strip().splitlines()
    assert len(lines) == 1 and "DASHBOARD_TOKEN" in lines[0]
