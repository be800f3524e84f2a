"""The live feed: public market data from CCXT, closed candles only, oldest first.

LiveFeed retries transient failures with backoff, drops the still-open candle the exchange
includes, and prices paper fills by walking the order book. It asks the exchange for candles
once per closed candle: a cycle reads them from several places (the regime, the research, the
briefs, the tools), and closed candles do not change, so later reads of the same or fewer
candles are sliced from the last answer until the next candle closes (an answer shorter than
asked is all the exchange has, so it serves every read up to the limit it was asked for).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from autotrader.clock import Clock, to_ms
from autotrader.config import TIMEFRAME_SECONDS
from autotrader.errors import VenueUnavailable
from autotrader.exchange.candles import Candle
from autotrader.exchange.ccxt_calls import call_exchange
from autotrader.exchange.retry import RetryPolicy
from autotrader.schemas import Side

ORDER_BOOK_DEPTH = 50  # levels walked to price a paper fill on a live book


class LiveFeed:
    """Public market data from a CCXT exchange whose markets are already loaded."""

    def __init__(self, exchange: Any, symbol: str, clock: Clock, retry: RetryPolicy) -> None:
        self.symbol = symbol
        self._exchange = exchange
        self._clock = clock
        self._retry = retry
        # timeframe -> (the close of the newest closed candle, the limit asked, the closed
        # candles it fetched)
        self._fetched: dict[str, tuple[int, int, list[Candle]]] = {}

    def ohlcv(self, timeframe: str, limit: int) -> list[Candle]:
        step_ms = TIMEFRAME_SECONDS[timeframe] * 1000
        now_ms = to_ms(self._clock.now())
        newest_close = now_ms - now_ms % step_ms
        newest, asked, candles = self._fetched.get(timeframe, (None, 0, []))
        if newest == newest_close and limit <= max(asked, len(candles)):
            return candles[-limit:]
        rows = call_exchange(
            self._retry, self._exchange.fetch_ohlcv, self.symbol, timeframe, limit=limit + 1
        )
        closed = [Candle(*row) for row in rows if int(row[0]) + step_ms <= now_ms]
        # Kept only when it holds the newest closed candle: an exchange still publishing it
        # is asked again.
        if closed and closed[-1].ts + step_ms == newest_close:
            self._fetched[timeframe] = (newest_close, limit, closed)
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
