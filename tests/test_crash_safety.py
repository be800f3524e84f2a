"""Crash and fault safety: a decision is made once, order rows tell the truth, an unknown outcome
is looked up, a crashed live run is adopted, one writer per database, and an exact cap.

The storm (dozens of kills, hundreds of exchange faults) is `make test-faults`; this is its
fast slice."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import ccxt
import pytest

import autotrader.db as database
from autotrader.clock import SimulatedClock
from autotrader.config import load_settings
from autotrader.core.runs import start_or_resume
from autotrader.db import Database
from autotrader.db.lock import WriterLock
from autotrader.db.models import Order, Trade
from autotrader.errors import DatabaseBusy, OrderOutcomeUnknown, TradeError
from autotrader.exchange.ccxt_venue import CcxtVenue
from autotrader.exchange.paper import PaperVenue
from autotrader.exchange.rules import offline_exchange
from tests.conftest import REPO_ROOT, clean_env
from tests.crash_harness import Outcome, invariants, killed, rows, run_cli
from tests.helpers import NO_WAIT, SteerableMarket, btc_rules, trade_tool

HALF_DAY = ["--from", "2025-09-29", "--hours", "12"]  # 48 cycles, 6 trades


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    db = tmp_path_factory.mktemp("reference") / "straight.db"
    assert run_cli(db, HALF_DAY).returncode == 0
    return Outcome.of(db)


@pytest.mark.parametrize(
    "stage",
    [
        "decided:2",  # decisions and intent committed, nothing sent
        "closing:5",  # a cycle's last rows buffered, not committed
    ],
)
def test_a_replay_killed_at_a_stage_and_restarted_ends_as_if_never_killed(
    tmp_path: Path, reference: Outcome, stage: str
) -> None:
    db = tmp_path / "killed.db"
    assert killed(run_cli(db, HALF_DAY, failpoint=stage))
    restarted = run_cli(db, HALF_DAY)
    assert restarted.returncode == 0, restarted.stderr
    assert Outcome.of(db) == reference
    assert invariants(db).problems() == {}


def test_a_cycle_killed_after_its_fill_keeps_one_order_and_its_decisions_once(
    tmp_path: Path, reference: Outcome
) -> None:
    db = tmp_path / "killed.db"
    assert killed(run_cli(db, HALF_DAY, failpoint="filled:2"))
    [(trace_id,)] = rows(db, "SELECT trace_id FROM cycles WHERE status = 'OPEN'")
    assert rows(db, f"SELECT status FROM orders WHERE trace_id = '{trace_id}'") == [("PENDING",)]
    decided = rows(db, f"SELECT count(*) FROM decisions WHERE trace_id = '{trace_id}'")
    assert run_cli(db, HALF_DAY).returncode == 0
    # Finished from what was stored: not decided again, not sent again.
    assert rows(db, f"SELECT count(*) FROM decisions WHERE trace_id = '{trace_id}'") == decided
    assert rows(db, f"SELECT status FROM orders WHERE trace_id = '{trace_id}'") == [("FILLED",)]
    assert rows(db, f"SELECT executed FROM cycles WHERE trace_id = '{trace_id}'") == [(1,)]
    assert Outcome.of(db) == reference
    assert invariants(db).problems() == {}


# --- unknown outcomes are looked up, never taken as refusals ---


class StubExchange:
    """A ccxt Binance on recorded markets whose order placement fails on demand, and whose
    ticker, balance and order lookups answer without a network."""

    isSandboxModeEnabled = True

    def __init__(self, failure: Exception | None) -> None:
        self._failure = failure
        self._exchange = offline_exchange()
        self.placed: list[tuple[str, Any]] = []

    def __getattr__(self, name: str) -> Any:  # markets, precision: the real ccxt code
        return getattr(self._exchange, name)

    def load_markets(self) -> None:
        return None

    def create_order(self, *args: Any) -> dict[str, Any]:
        self.placed.append(("base", args))
        if self._failure is not None:
            raise self._failure
        return {}

    def create_market_buy_order_with_cost(self, symbol: str, cost: str, params: Any) -> Any:
        self.placed.append(("cost", cost))
        raise ccxt.RequestTimeout("read timed out")

    def fetch_ticker(self, symbol: str) -> dict[str, Any]:
        return {"last": 100_000}

    def fetch_balance(self) -> dict[str, Any]:
        return {"total": {"BTC": 0, "USDT": 1000}}

    def fetch_order(self, *args: Any) -> Any:
        raise ccxt.OrderNotFound('binance {"code":-2013,"msg":"Order does not exist."}')


@pytest.mark.parametrize(
    "failure",
    [
        ccxt.OperationFailed('binance {"code":-1000,"msg":"An unknown error occurred"}'),
        ccxt.OperationFailed('binance {"code":-1006,"msg":"Unexpected response"}'),
        ccxt.RequestTimeout('binance {"code":-1007,"msg":"Timeout waiting for response"}'),
        ccxt.ExchangeNotAvailable("503 Service Unavailable"),
        ccxt.ExchangeError("binance an error ccxt could not classify"),
    ],
    ids=["-1000", "-1006", "-1007", "503", "unclassified"],
)
def test_an_error_after_which_the_venue_may_have_executed_is_an_unknown_outcome(
    failure: Exception,
) -> None:
    venue = CcxtVenue(StubExchange(failure), "BTC/USDT", SimulatedClock(T0), NO_WAIT)
    with pytest.raises(OrderOutcomeUnknown, match="no clear answer placing BUY"):
        venue.create_market_order("BUY", Decimal("0.001"), "cid")


@pytest.mark.parametrize(
    "failure",
    [
        ccxt.InsufficientFunds('binance {"code":-2010,"msg":"Account has insufficient balance"}'),
        ccxt.InvalidOrder('binance {"code":-2010,"msg":"Order would trigger immediately"}'),
        ccxt.BadRequest('binance {"code":-1013,"msg":"Filter failure: NOTIONAL"}'),
    ],
    ids=["insufficient", "-2010", "-1013"],
)
def test_only_an_error_that_proves_refusal_is_a_rejection(failure: Exception) -> None:
    venue = CcxtVenue(StubExchange(failure), "BTC/USDT", SimulatedClock(T0), NO_WAIT)
    with pytest.raises(TradeError) as raised:
        venue.create_market_order("BUY", Decimal("0.001"), "cid")
    assert not isinstance(raised.value, OrderOutcomeUnknown)


def test_a_real_mode_buy_is_sent_sized_in_the_quote_asset_and_a_timeout_left_unknown(
    db: Database,
) -> None:
    exchange = StubExchange(None)
    clock = SimulatedClock(T0)
    venue = CcxtVenue(exchange, "BTC/USDT", clock, NO_WAIT)
    tool = trade_tool(venue, db, clock, real=True, cap="20")
    with pytest.raises(OrderOutcomeUnknown, match="left UNKNOWN"):
        tool.place_market_order("BUY", Decimal("0.00019"), "k")
    assert exchange.placed == [("cost", "19.00000000")]  # 0.00019 at 100,000: the notional
    order = rows(db.path, "SELECT status, sends FROM orders")
    assert order == [("UNKNOWN", 1)]  # looked up, not found: unknown, not refused


T0 = datetime(2025, 9, 10, 12, 0, 30, tzinfo=UTC)


# --- an exact cap ---


def test_a_quote_sized_buy_filling_three_percent_above_the_ticker_stays_within_the_cap(
    db: Database,
) -> None:
    market = SteerableMarket(fill_offset=Decimal("0.03"))  # a thin book, 3% above the ticker
    clock = SimulatedClock(T0)
    venue = PaperVenue(
        db,
        market,
        market,
        btc_rules(),
        clock,
        start_quote=Decimal(1000),
        fee_rate=Decimal("0.001"),
        slippage=Decimal(0),
    )
    tool = trade_tool(venue, db, clock, real=True, cap="20")
    check = tool.pre_trade_check("BUY", Decimal("1"))
    largest = Decimal(check["max_valid_qty"])
    fill = tool.place_market_order("BUY", largest, "k")
    held = venue.account().balances["BTC"]
    assert fill.price == market.price * Decimal("1.03")
    assert held * fill.price <= 20  # at the price it actually paid, within the cap


# --- a crashed live run is adopted, a stopped one is not ---


def test_a_live_restart_adopts_the_run_that_crashed(db: Database) -> None:
    settings = load_settings(env_file=None, feed="live")
    now = datetime(2025, 9, 10, tzinfo=UTC)
    first = start_or_resume(db, settings, provider="offline", models={}, span=None, wall_now=now)
    again = start_or_resume(
        db, settings, provider="offline", models={}, span=None, wall_now=now + timedelta(hours=1)
    )
    assert (again.run_id, again.resumed) == (first.run_id, True)


# --- one writer ---


def test_a_second_writer_is_refused_naming_the_holder(tmp_path: Path) -> None:
    path = tmp_path / "one.db"
    refused = pytest.raises(DatabaseBusy, match=r"another autotrader \(pid \d+\) is writing")
    with WriterLock(path), refused:
        WriterLock(path).__enter__()
    with WriterLock(path):  # released on exit
        pass


def test_a_second_runner_on_the_same_database_stops_at_once_with_one_line(
    tmp_path: Path,
) -> None:
    db = tmp_path / "busy.db"
    env = clean_env(PYTHONPATH=str(REPO_ROOT))
    first = subprocess.Popen(
        [sys.executable, str(REPO_ROOT / "runner.py"), "--db", str(db)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not rows_ready(db) and time.monotonic() < deadline:
            time.sleep(0.2)
        second = subprocess.run(
            [sys.executable, str(REPO_ROOT / "runner.py"), "--db", str(db)],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        report = subprocess.run(
            [sys.executable, str(REPO_ROOT / "runner.py"), "report", "--db", str(db)],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        first.terminate()
        first.wait(timeout=60)
    assert second.returncode == 1
    assert second.stderr.strip().splitlines() == [
        f"autotrader: another autotrader (pid {first.pid}) is writing {db}; "
        f"stop it first (kill {first.pid}) or use another --db"
    ]
    assert report.returncode == 0, report.stderr  # a reader works while the agent runs


def rows_ready(db: Path) -> bool:
    try:
        return bool(rows(db, "SELECT count(*) FROM portfolio")[0][0] >= 2)
    except Exception:
        return False


def test_a_write_waits_out_another_process_holding_the_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(database, "BUSY_TIMEOUT_MS", 50)
    monkeypatch.setattr(database, "LOCKED_FIRST_WAIT_SECS", 0.05)
    db = Database.open(tmp_path / "locked.db")
    import sqlite3

    holder = sqlite3.connect(tmp_path / "locked.db", isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    threading.Timer(0.3, holder.rollback).start()
    db.append_values((Order, _order_values()))  # blocked at first, then written
    assert rows(tmp_path / "locked.db", "SELECT count(*) FROM orders") == [(1,)]
    holder.close()
    db.close()


def test_a_lock_held_past_every_retry_is_one_typed_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(database, "BUSY_TIMEOUT_MS", 20)
    monkeypatch.setattr(database, "LOCKED_FIRST_WAIT_SECS", 0.01)
    db = Database.open(tmp_path / "stuck.db")
    import sqlite3

    holder = sqlite3.connect(tmp_path / "stuck.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    with pytest.raises(DatabaseBusy, match="stayed locked by another process"):
        db.append_values((Trade, {}))
    holder.rollback()
    holder.close()
    db.close()


def _order_values() -> dict[str, Any]:
    return {
        "created_ts": T0,
        "updated_ts": T0,
        "symbol": "BTC/USDT",
        "side": "BUY",
        "qty": Decimal("0.001"),
        "client_order_id": "c",
        "idempotency_key": "k",
        "status": "NEW",
        "sends": 0,
    }
