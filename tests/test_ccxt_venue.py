"""The CCXT venue (Binance testnet) replayed through cassettes of recorded Binance payloads:
markets, OHLCV, a market order, lookup by client id, balance, retries, duplicate placement,
an order timeout, and the real-mode cap stopping an order before it is sent."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlmodel import select

from autotrader.clock import SimulatedClock
from autotrader.db import Database
from autotrader.db.models import Trade
from autotrader.errors import CapExceeded, ConfigError
from autotrader.exchange.retry import RetryPolicy
from autotrader.tools.ledger import order_by_client_id
from autotrader.tools.trade import client_order_id
from tests.helpers import SANDBOX_NOW, binance_vcr, sandbox_venue, sent_intent, trade_tool


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(SANDBOX_NOW)


RECORDED_CLIENT_ID = "fDBM0cAaaaGpcffPQ0Wuud"  # the real testnet order's client id
IDEM_KEY = "5f1c3a9e0d2b4c6a8e7f9b1d3c5a7e9f" + "0" * 32  # -> the client id in the cassettes


def test_load_markets_yields_binances_btcusdt_rules() -> None:
    with binance_vcr.use_cassette("load_markets.yaml") as cassette:
        venue = sandbox_venue()
    assert cassette.play_count == 1
    assert venue.name == "binance-testnet"
    assert venue.rules.amount_step == Decimal("0.00001")
    assert venue.rules.min_notional == Decimal("5")


def test_fetch_ohlcv_returns_closed_candles_only() -> None:
    with binance_vcr.use_cassette("fetch_ohlcv.yaml"):
        venue = sandbox_venue()  # clock at 23:12:30: the 23:12 candle is still open
        candles = venue.market.ohlcv("1m", 10)
    assert len(candles) == 9
    assert candles[0].ts == 1634943780000 and candles[0].close == 60719.27
    assert candles[-1].ts == 1634944260000  # 23:11, closed at 23:12


def test_a_transient_429_then_503_is_retried_until_success() -> None:
    with binance_vcr.use_cassette("retry_then_success.yaml") as cassette:
        venue = sandbox_venue()
        candles = venue.market.ohlcv("1m", 10)
    assert len(candles) == 9
    assert cassette.all_played
    assert [r["status"]["code"] for r in cassette.responses] == [200, 429, 503, 200]


def test_retries_are_bounded_and_end_in_venue_unavailable() -> None:
    from autotrader.errors import VenueUnavailable

    with binance_vcr.use_cassette("retry_then_success.yaml", allow_playback_repeats=False):
        venue = sandbox_venue(retry=RetryPolicy(attempts=2, initial_wait=0, max_wait=0))
        with pytest.raises(VenueUnavailable, match="fetch_ohlcv failed 2 times"):
            venue.market.ohlcv("1m", 10)


def test_create_market_order_parses_the_recorded_testnet_fill() -> None:
    with binance_vcr.use_cassette("create_market_order.yaml"):
        venue = sandbox_venue()
        report = venue.create_market_order("BUY", Decimal("0.01"), RECORDED_CLIENT_ID)
    assert report.status == "FILLED"
    assert report.order_id == "4336196"
    assert report.client_order_id == RECORDED_CLIENT_ID
    assert report.filled_qty == Decimal("0.01")
    assert report.avg_price == Decimal("60500.04561")  # 605.00045610 / 0.01, exactly
    assert (report.fee, report.fee_asset) == (Decimal("0"), "BTC")


def test_find_order_by_client_id_reads_the_fee_from_the_orders_trades() -> None:
    with binance_vcr.use_cassette("fetch_order_by_client_id.yaml") as cassette:
        venue = sandbox_venue()
        report = venue.find_order(RECORDED_CLIENT_ID)
    assert cassette.all_played
    assert report is not None and report.order_id == "4336196"
    assert report.filled_qty == Decimal("0.01")
    assert report.fee_asset == "BTC"


def test_fetch_balance_reads_the_recorded_spot_account() -> None:
    with binance_vcr.use_cassette("fetch_balance.yaml"):
        venue = sandbox_venue()
        account = venue.account()
    assert account.balances == {"BTC": Decimal("0"), "USDT": Decimal("0")}


def _persist_intent(db: Database) -> None:
    sent_intent(
        db,
        ts=datetime(2024, 10, 11, tzinfo=UTC),
        symbol="BTC/USDT",
        side="BUY",
        qty=Decimal("0.01"),
        client_order_id=client_order_id(IDEM_KEY),
        idempotency_key=IDEM_KEY,
        trace_id="t",
    )


def test_duplicate_placement_finds_the_existing_order_and_sends_nothing(
    db: Database, clock: SimulatedClock
) -> None:
    _persist_intent(db)  # a previous attempt got as far as persisting (and maybe sending)
    with binance_vcr.use_cassette("duplicate_placement.yaml") as cassette:  # no POST in it
        venue = sandbox_venue(clock)
        tool = trade_tool(venue, db, clock)
        fill = tool.place_market_order("BUY", Decimal("0.01"), IDEM_KEY)
        again = tool.place_market_order("BUY", Decimal("0.01"), IDEM_KEY)  # from the ledger
    assert cassette.all_played
    assert fill == again and fill.order_id == "4336196"
    with db.session() as session:
        assert len(session.exec(select(Trade)).all()) == 1


def test_an_order_timeout_is_resolved_by_lookup_not_by_resending(
    db: Database, clock: SimulatedClock
) -> None:
    with binance_vcr.use_cassette("order_timeout_then_found.yaml") as cassette:
        venue = sandbox_venue(clock)
        tool = trade_tool(venue, db, clock)
        fill = tool.place_market_order("BUY", Decimal("0.01"), IDEM_KEY)
    assert cassette.all_played  # one POST (504), then the lookup; nothing else
    assert fill.order_id == "4336196" and fill.filled_qty == Decimal("0.01")
    order = order_by_client_id(db, client_order_id(IDEM_KEY))
    assert order is not None and order.status == "FILLED"


def test_in_real_mode_the_cap_stops_an_order_before_it_reaches_binance(
    db: Database, clock: SimulatedClock
) -> None:
    with binance_vcr.use_cassette("cap_stops_order.yaml") as cassette:  # no POST in it
        venue = sandbox_venue(clock)
        tool = trade_tool(venue, db, clock, real=True)
        with pytest.raises(CapExceeded, match="exceed DEPOSIT_CAP_USDT=5"):
            tool.place_market_order("BUY", Decimal("0.0001"), IDEM_KEY)
    assert cassette.all_played
    assert order_by_client_id(db, client_order_id(IDEM_KEY)) is None


def test_a_permanent_error_fails_at_once_with_a_clear_message() -> None:
    with binance_vcr.use_cassette("permanent_error.yaml") as cassette:
        venue = sandbox_venue()
        with pytest.raises(ConfigError, match="the exchange does not list this SYMBOL"):
            venue.market.ohlcv("1m", 10)
    assert cassette.play_count == 2  # exchangeInfo, then one klines request: no retries


def test_an_order_the_exchange_never_saw_reads_as_none() -> None:
    with binance_vcr.use_cassette("fetch_order_unknown.yaml") as cassette:
        venue = sandbox_venue()
        assert venue.find_order(client_order_id(IDEM_KEY)) is None
    assert cassette.all_played


def test_cancel_all_with_nothing_open_cancels_nothing() -> None:
    with binance_vcr.use_cassette("cancel_all_nothing_open.yaml") as cassette:
        venue = sandbox_venue()
        assert venue.cancel_all() == 0
    assert cassette.all_played
