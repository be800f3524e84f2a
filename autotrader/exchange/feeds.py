"""Market data feeds: closed candles only, oldest first, from a replay file or a live exchange.

ReplayFeed answers from a real candle file as of its clock's now and never returns a candle that
closes after now; it prices paper fills at the next candle's open. LiveFeed asks CCXT, retries
transient failures with backoff, drops the still-open candle the exchange includes, and prices
paper fills by walking the order book.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from autotrader.clock import Clock, from_ms, to_ms
from autotrader.config import TIMEFRAME_SECONDS
from autotrader.errors import VenueUnavailable
from autotrader.exchange.candles import Candle, load_candles, resample
from autotrader.exchange.ccxt_calls import RetryPolicy, call_exchange
from autotrader.schemas import Side

ORDER_BOOK_DEPTH = 50  # levels walked to price a paper fill on a live book


def price_of(value: float) -> Decimal:
    """A candle price as Decimal: repr gives the shortest text that round-trips the float."""
    return Decimal(repr(value))


class ReplayFeed:
    """Real candles replayed on a clock; look-ahead is impossible by construction."""

    def __init__(
        self,
        symbol: str,
        candles: list[Candle],
        step_ms: int,
        clock: Clock,
        gaps: tuple[str, ...] = (),
    ) -> None:
        self.symbol = symbol
        self.gaps = gaps
        self.step_ms = step_ms
        self._clock = clock
        self._candles = candles
        self._opens = [candle.ts for candle in candles]
        self._closes = [candle.ts + step_ms for candle in candles]
        self._resampled: dict[str, ReplayFeed] = {}

    @classmethod
    def from_file(cls, path: Path, symbol: str, timeframe: str, clock: Clock) -> ReplayFeed:
        loaded = load_candles(path)
        target_ms = TIMEFRAME_SECONDS[timeframe] * 1000
        candles = resample(loaded.candles, loaded.step_ms, target_ms)
        return cls(symbol, candles, target_ms, clock, tuple(loaded.gaps))

    @property
    def first_close_ms(self) -> int:
        return self._closes[0]

    @property
    def last_close_ms(self) -> int:
        return self._closes[-1]

    def _closed_count(self) -> int:
        return bisect_right(self._closes, to_ms(self._clock.now()))

    def ohlcv(self, timeframe: str, limit: int) -> list[Candle]:
        target_ms = TIMEFRAME_SECONDS[timeframe] * 1000
        if target_ms != self.step_ms:
            return self._coarser(timeframe, target_ms).ohlcv(timeframe, limit)
        end = self._closed_count()
        return self._candles[max(0, end - limit) : end]

    def _coarser(self, timeframe: str, target_ms: int) -> ReplayFeed:
        if timeframe not in self._resampled:
            candles = resample(self._candles, self.step_ms, target_ms)
            self._resampled[timeframe] = ReplayFeed(self.symbol, candles, target_ms, self._clock)
        return self._resampled[timeframe]

    def last_price(self) -> Decimal:
        end = self._closed_count()
        if end == 0:
            raise VenueUnavailable("no candle has closed yet at the replay clock's time")
        return price_of(self._candles[end - 1].close)

    def fill_price(self, side: Side, qty: Decimal) -> Decimal:
        """The open of the first candle starting at or after now: the next price there is."""
        return price_of(self._fill_candle().open)

    def fill_time(self) -> datetime:
        return from_ms(self._fill_candle().ts)

    def _fill_candle(self) -> Candle:
        index = bisect_left(self._opens, to_ms(self._clock.now()))
        if index == len(self._candles):
            raise VenueUnavailable("the replay data has ended: no next candle to fill at")
        return self._candles[index]


class LiveFeed:
    """Public market data from a CCXT exchange whose markets are already loaded."""

    def __init__(self, exchange: Any, symbol: str, clock: Clock, retry: RetryPolicy) -> None:
        self.symbol = symbol
        self._exchange = exchange
        self._clock = clock
        self._retry = retry

    def ohlcv(self, timeframe: str, limit: int) -> list[Candle]:
        rows = call_exchange(
            self._retry, self._exchange.fetch_ohlcv, self.symbol, timeframe, limit=limit + 1
        )
        step_ms = TIMEFRAME_SECONDS[timeframe] * 1000
        now_ms = to_ms(self._clock.now())
        closed = [Candle(*row) for row in rows if int(row[0]) + step_ms <= now_ms]
        return closed[-limit:]

    def last_price(self) -> Decimal:
        ticker = call_exchange(self._retry, self._exchange.fetch_ticker, self.symbol)
        return Decimal(str(ticker["last"]))

    def fill_time(self) -> datetime:
        return self._clock.now()

    def fill_price(self, side: Side, qty: Decimal) -> Decimal:
        """Walk the order book's levels as freqtrade's dry-run does: the volume-weighted price
        of taking `qty` from the asks (BUY) or bids (SELL); beyond the book, its last level."""
        book = call_exchange(
            self._retry, self._exchange.fetch_order_book, self.symbol, ORDER_BOOK_DEPTH
        )
        levels = book["asks"] if side == "BUY" else book["bids"]
        if not levels:
            raise VenueUnavailable(f"the {self.symbol} order book is empty; cannot price a fill")
        remaining, cost = qty, Decimal(0)
        price = Decimal(0)
        for level in levels:
            price, size = Decimal(str(level[0])), Decimal(str(level[1]))
            take = min(remaining, size)
            cost += take * price
            remaining -= take
            if remaining <= 0:
                break
        cost += remaining * price
        return cost / qty if qty > 0 else Decimal(str(levels[0][0]))
