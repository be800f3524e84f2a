"""The books of a position come from the ledger's trades of the account's scope: cost basis is
what the buys paid (fees included), a sell realizes its proceeds less the average cost it gives
up, and another run's trades never mix in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from autotrader.config import load_settings
from autotrader.core.runs import RunState, start_or_resume
from autotrader.db import Database
from autotrader.tools.portfolio import LedgerBooks
from tests.helpers import paper_venue, replay_at, trade_tool


def _run(db: Database, seed: int) -> RunState:
    settings = load_settings(env_file=None, seed=seed)
    start = datetime(2025, 9, 10, tzinfo=UTC)
    return start_or_resume(
        db,
        settings,
        provider="offline",
        models={},
        span=(start, start + timedelta(days=1)),
        wall_now=start,
    )


def test_a_buy_costs_what_it_paid_including_its_fee(db: Database) -> None:
    run = _run(db, seed=1)
    feed, clock = replay_at(1000)
    venue = paper_venue(db, feed, clock)
    fill = trade_tool(venue, db, clock, run_id=run.run_id).place_market_order(
        "BUY", Decimal("0.001"), "b"
    )
    books = LedgerBooks(db, "BTC/USDT", run.scope).current()
    assert books.position_cost == Decimal("0.001") * fill.price + fill.fee
    assert books.realized_pnl == 0


def test_a_sell_realizes_pnl_net_of_both_fees(db: Database) -> None:
    run = _run(db, seed=1)
    feed, clock = replay_at(1000)
    tool = trade_tool(paper_venue(db, feed, clock, slippage="0"), db, clock, run_id=run.run_id)
    books = LedgerBooks(db, "BTC/USDT", run.scope)
    buy = tool.place_market_order("BUY", Decimal("0.002"), "b")
    assert books.current().position_cost > 0  # folded incrementally: the buy first
    clock.advance_to(clock.now() + timedelta(hours=2))
    sell = tool.place_market_order("SELL", Decimal("0.002"), "s")
    expected = Decimal("0.002") * (sell.price - buy.price) - buy.fee - sell.fee
    assert books.current().realized_pnl == expected
    assert books.current().position_cost == 0


def test_the_books_of_one_scope_ignore_another_runs_trades(db: Database) -> None:
    mine, other = _run(db, seed=1), _run(db, seed=2)
    feed, clock = replay_at(1000)
    venue = paper_venue(db, feed, clock)
    trade_tool(venue, db, clock, run_id=other.run_id).place_market_order(
        "BUY", Decimal("0.001"), "theirs"
    )
    assert LedgerBooks(db, "BTC/USDT", mine.scope).current().position_cost == 0
