"""The live feed asks the exchange for candles once per closed candle, and only keeps a complete
answer."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from autotrader.clock import SimulatedClock, from_ms, to_ms
from autotrader.exchange.candles import Candle
from autotrader.exchange.live_feed import WIDTH_MARGIN, LiveFeed
from tests.helpers import NO_WAIT, real_candles

STEP_MS = 300_000


class KlineExchange:
    """Binance's klines as of the clock, the still-open candle included; `lag` candles at the
    end not yet published; every call counted."""

    def __init__(self, clock: SimulatedClock, candles: list[Candle]) -> None:
        self.clock, self.candles, self.calls, self.lag = clock, candles, 0, 0
        self.limits: list[int] = []

    def fetch_ohlcv(self, symbol: str, timeframe: str, limit: int) -> list[list[Any]]:
        self.calls += 1
        self.limits.append(limit)
        now = to_ms(self.clock.now())
        opened = [list(c) for c in self.candles if c.ts <= now]
        return opened[: len(opened) - self.lag][-limit:]


def feed_at_a_close() -> tuple[LiveFeed, KlineExchange, SimulatedClock]:
    candles = real_candles()
    clock = SimulatedClock(from_ms(candles[500].ts) + timedelta(seconds=10))
    exchange = KlineExchange(clock, candles)
    return LiveFeed(exchange, "BTC/USDT", clock, NO_WAIT), exchange, clock


def test_reads_within_one_candle_ask_the_exchange_once() -> None:
    feed, exchange, _ = feed_at_a_close()
    first = feed.ohlcv("5m", 220)
    assert feed.ohlcv("5m", 220) == first
    assert feed.ohlcv("5m", 100) == first[-100:]
    assert exchange.calls == 1
    assert first[-1].ts + STEP_MS <= to_ms(exchange.clock.now())  # closed candles only


def test_the_next_close_asks_again_and_sees_the_new_candle() -> None:
    feed, exchange, clock = feed_at_a_close()
    before = feed.ohlcv("5m", 100)
    clock.advance_to(clock.now() + timedelta(minutes=5))
    after = feed.ohlcv("5m", 100)
    assert exchange.calls == 2
    assert after[-1].ts == before[-1].ts + STEP_MS


def test_more_candles_than_were_fetched_ask_again() -> None:
    feed, exchange, _ = feed_at_a_close()
    feed.ohlcv("5m", 10)
    assert len(feed.ohlcv("5m", 220)) == 220
    assert exchange.calls == 2


def test_a_new_candle_is_fetched_once_past_the_widest_read_of_the_one_before() -> None:
    feed, exchange, clock = feed_at_a_close()
    for _candle in range(3):  # each cycle reads one candle first, then wider
        newest = feed.ohlcv("5m", 1)
        assert feed.ohlcv("5m", 220)[-1] == newest[-1]
        assert len(feed.ohlcv("5m", 223)) == 223
        clock.advance_to(clock.now() + timedelta(minutes=5))
    # The first candle took two requests (a wider read reaches past itself); the next ones one
    # each. Every request asks one more candle: the still-open one.
    wider = 223 + WIDTH_MARGIN + 1
    assert exchange.limits == [2, 220 + WIDTH_MARGIN + 1, wider, wider]


def test_a_one_off_wide_read_widens_only_the_next_candles_request() -> None:
    feed, exchange, clock = feed_at_a_close()
    feed.ohlcv("5m", 450)  # a first look far back (the shadow books' backfill)
    for _candle in range(3):
        clock.advance_to(clock.now() + timedelta(minutes=5))
        feed.ohlcv("5m", 1)
        feed.ohlcv("5m", 220)
    usual = 220 + WIDTH_MARGIN + 1
    assert exchange.limits == [451, 450 + WIDTH_MARGIN + 1, usual, usual]


def test_an_answer_missing_the_newest_closed_candle_is_not_kept() -> None:
    feed, exchange, _ = feed_at_a_close()
    exchange.lag = 2  # the open candle and the one that just closed are not published yet
    stale = feed.ohlcv("5m", 100)
    exchange.lag = 0
    fresh = feed.ohlcv("5m", 100)
    assert exchange.calls == 2
    assert fresh[-1].ts == stale[-1].ts + STEP_MS


def test_a_market_with_less_history_than_asked_is_asked_once() -> None:
    candles = real_candles()[:60]  # a young market: 59 closed candles, however many are asked
    clock = SimulatedClock(from_ms(candles[59].ts) + timedelta(seconds=10))
    exchange = KlineExchange(clock, candles)
    feed = LiveFeed(exchange, "BTC/USDT", clock, NO_WAIT)
    assert len(feed.ohlcv("5m", 220)) == 59
    assert len(feed.ohlcv("5m", 220)) == 59 and feed.ohlcv("5m", 10) == feed.ohlcv("5m", 220)[-10:]
    assert exchange.calls == 1
    assert len(feed.ohlcv("5m", 500)) == 59 and exchange.calls == 2  # more than asked: again
