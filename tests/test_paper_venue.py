"""The paper venue fills at the next real open plus slippage, charges the taker fee in USDT,
stays spot-only, and resumes from the database after a restart. It keeps balances only: the
books of a position are the ledger's (tests/test_portfolio.py)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from autotrader.clock import SimulatedClock, from_ms
from autotrader.db import Database
from autotrader.errors import InsufficientFunds, RejectedByRules
from autotrader.exchange.candles import Candle, resample
from autotrader.exchange.feeds import ReplayFeed
from autotrader.exchange.paper import PaperVenue
from tests.helpers import paper_venue, real_candles, replay_at


def test_market_buy_fills_at_next_open_plus_slippage_and_pays_fee_in_usdt(db: Database) -> None:
    feed, clock = replay_at(1000)
    venue = paper_venue(db, feed, clock)
    report = venue.create_market_order("BUY", Decimal("0.001"), "c1")
    next_open = Decimal(repr(real_candles()[1001].open))
    expected_price = venue.rules.round_price(next_open * Decimal("1.0005"))
    assert report.avg_price == expected_price
    assert report.fee == (Decimal("0.001") * expected_price * Decimal("0.001")).quantize(
        Decimal("0.00000001")
    )
    assert report.fee_asset == "USDT" and report.status == "FILLED"
    account = venue.account()
    assert account.balances["BTC"] == Decimal("0.001")
    assert (
        account.balances["USDT"] == Decimal(1000) - Decimal("0.001") * expected_price - report.fee
    )


def test_a_round_trip_returns_the_cash_net_of_both_fees(db: Database) -> None:
    feed, clock = replay_at(1000)
    venue = paper_venue(db, feed, clock, slippage="0")
    buy = venue.create_market_order("BUY", Decimal("0.002"), "b")
    clock.advance_to(clock.now() + timedelta(hours=2))
    sell = venue.create_market_order("SELL", Decimal("0.002"), "s")
    account = venue.account()
    expected = Decimal("0.002") * (sell.avg_price - buy.avg_price) - buy.fee - sell.fee
    assert account.balances["BTC"] == 0
    assert account.balances["USDT"] == Decimal(1000) + expected


def test_selling_more_than_held_is_refused_spot_only(db: Database) -> None:
    feed, clock = replay_at(1000)
    venue = paper_venue(db, feed, clock)
    with pytest.raises(InsufficientFunds, match="no shorting"):
        venue.create_market_order("SELL", Decimal("0.001"), "s")
    assert venue.find_order("s") is None


def test_buying_beyond_the_balance_is_refused(db: Database) -> None:
    feed, clock = replay_at(1000)
    venue = paper_venue(db, feed, clock, start="10")
    with pytest.raises(InsufficientFunds, match=r"holds 10\.00"):
        venue.create_market_order("BUY", Decimal("0.001"), "b")


def test_an_order_below_min_notional_is_rejected_by_rules(db: Database) -> None:
    feed, clock = replay_at(1000)
    venue = paper_venue(db, feed, clock)
    with pytest.raises(RejectedByRules, match="minNotional"):
        venue.create_market_order("BUY", Decimal("0.00001"), "tiny")


def test_a_restarted_paper_venue_resumes_its_books_and_orders(db: Database) -> None:
    feed, clock = replay_at(1000)
    first = paper_venue(db, feed, clock)
    first.create_market_order("BUY", Decimal("0.003"), "keep")
    before = first.account()

    restarted = paper_venue(db, feed, clock)  # same database, new process state
    assert restarted.account() == before
    found = restarted.find_order("keep")
    assert found is not None and found.filled_qty == Decimal("0.003")
    assert [o.client_order_id for o in restarted.orders_since(clock.now() - timedelta(days=1))] == [
        "keep"
    ]


def test_placing_the_same_client_id_twice_returns_the_first_fill(db: Database) -> None:
    feed, clock = replay_at(1000)
    venue = paper_venue(db, feed, clock)
    first = venue.create_market_order("BUY", Decimal("0.001"), "dup")
    again = venue.create_market_order("BUY", Decimal("0.001"), "dup")
    assert again == first
    assert venue.account().balances["BTC"] == Decimal("0.001")


def test_on_a_live_feed_a_fill_walks_the_order_book_levels(db: Database) -> None:
    """Recorded Binance BTC/USDT depth: asks 0.0087 @ 42574.31, then 0.00893 @ 42574.80."""
    from autotrader.clock import WallClock
    from autotrader.config import load_settings
    from autotrader.exchange.ccxt_venue import build_exchange
    from autotrader.exchange.live_feed import LiveFeed
    from autotrader.exchange.paper import PaperVenue
    from autotrader.exchange.rules import MarketRules
    from tests.helpers import NO_WAIT, binance_vcr

    exchange = build_exchange(load_settings(env_file=None, feed="live"), with_keys=False)
    exchange.enableRateLimit = False
    with binance_vcr.use_cassette("paper_live_book.yaml") as cassette:
        exchange.load_markets()
        feed = LiveFeed(exchange, "BTC/USDT", WallClock(), NO_WAIT)
        venue = PaperVenue(
            db,
            feed,
            feed,
            MarketRules.of(exchange, "BTC/USDT"),
            WallClock(),
            start_quote=Decimal(10_000),
            fee_rate=Decimal("0.001"),
            slippage=Decimal(0),
        )
        within = venue.create_market_order("BUY", Decimal("0.01"), "within")
        beyond = venue.create_market_order("BUY", Decimal("0.02"), "beyond")
    assert cassette.all_played
    vwap = (
        Decimal("0.0087") * Decimal("42574.31") + Decimal("0.0013") * Decimal("42574.80")
    ) / Decimal("0.01")
    assert within.avg_price == vwap.quantize(Decimal("0.01"))
    # Beyond the book's 0.01763 BTC, the rest is priced at its last level.
    rest = Decimal("0.02") - Decimal("0.0087")
    deep = (Decimal("0.0087") * Decimal("42574.31") + rest * Decimal("42574.80")) / Decimal("0.02")
    assert beyond.avg_price == deep.quantize(Decimal("0.01"))


# --- an order sent inside a candle fills at the next open, and is booked only then ---


def four_hour_venue(db: Database) -> tuple[PaperVenue, SimulatedClock, list[Candle]]:
    """A paper venue on the bundled real 5m candles resampled to 4h, its clock one hour into
    a 4h candle (as a cycle retried after a failure can be)."""
    candles = resample(real_candles(), 300_000, 4 * 3_600_000)
    clock = SimulatedClock(from_ms(candles[10].ts) + timedelta(hours=1))
    feed = ReplayFeed("BTC/USDT", candles, 4 * 3_600_000, clock)
    return paper_venue(db, feed, clock), clock, candles


def test_an_order_inside_a_candle_is_open_until_the_next_open(db: Database) -> None:
    venue, clock, candles = four_hour_venue(db)
    before = venue.account()
    report = venue.create_market_order("BUY", Decimal("0.001"), "c1")
    assert report.status == "OPEN" and report.filled_qty == 0
    assert report.ts == from_ms(candles[11].ts)  # the fill time: the next 4h open
    clock.advance_to(report.ts - timedelta(seconds=1))
    assert venue.account() == before  # no cash moves before the fill: nothing from the future
    assert venue.find_order("c1") == report
    clock.advance_to(report.ts)
    filled = venue.find_order("c1")
    assert filled is not None and filled.status == "FILLED" and filled.ts == report.ts
    assert filled.avg_price == venue.rules.round_price(
        Decimal(repr(candles[11].open)) * Decimal("1.0005")
    )
    assert venue.account().balances["BTC"] == Decimal("0.001")


def test_an_open_paper_order_survives_a_restart_and_fills_once(db: Database) -> None:
    venue, clock, _ = four_hour_venue(db)
    report = venue.create_market_order("BUY", Decimal("0.001"), "c1")
    clock.advance_to(report.ts + timedelta(minutes=5))
    restarted = paper_venue(db, venue.market, clock)  # type: ignore[arg-type]
    assert restarted.account().balances["BTC"] == Decimal("0.001")
    assert [r.status for r in restarted.orders_since(report.ts)] == ["FILLED"]
    assert restarted.account().balances["BTC"] == Decimal("0.001")  # booked once


def test_a_second_order_waits_for_the_open_one_to_fill(db: Database) -> None:
    venue, _, _ = four_hour_venue(db)
    venue.create_market_order("BUY", Decimal("0.001"), "c1")
    with pytest.raises(RejectedByRules, match="has not filled yet"):
        venue.create_market_order("SELL", Decimal("0.001"), "c2")
