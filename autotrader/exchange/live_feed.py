"""The live feed: public market data from CCXT, closed candles only, oldest first.

LiveFeed retries transient failures with backoff, drops the still-open candle the exchange
includes, and prices paper fills by walking the order book. It asks the exchange for candles
once per closed candle: a cycle reads them from several places (the regime, the research, the
briefs, the tools), and closed candles do not change, so later reads of the same or fewer
candles are sliced from the last answer until the next candle closes (an answer shorter than
asked is all the exchange has, so it serves every read up to the limit it was asked for). A
new candle is fetched a little wider than the widest read of the candle before it: a cycle
reads about the same widths every candle (the wake-up's one candle first, then the regime's and
the shadow books' few hundred), so one request serves them all instead of one per wider read.
"""

from __future__ import annotations

from dataclasses import dataclass
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
# How far past the previous candle's widest read a new candle's request reaches: the shadow books
# read back to the oldest candle they have not seen, which moves with the Planner's sleep (at
# most 12 candles on 5m).
WIDTH_MARGIN = 16


@dataclass
class _Served:
    """The closed candles fetched for one timeframe, up to the candle closing at `close` (ms)."""

    close: int
    asked: int  # the limit the exchange was asked for
    candles: list[Candle]
    widest: int  # the widest read served since that candle closed


class LiveFeed:
    """Public market data from a CCXT exchange whose markets are already loaded."""

    def __init__(self, exchange: Any, symbol: str, clock: Clock, retry: RetryPolicy) -> None:
        self.symbol = symbol
        self._exchange = exchange
        self._clock = clock
        self._retry = retry
        self._served: dict[str, _Served] = {}

    def ohlcv(self, timeframe: str, limit: int) -> list[Candle]:
        step_ms = TIMEFRAME_SECONDS[timeframe] * 1000
        now_ms = to_ms(self._clock.now())
        newest_close = now_ms - now_ms % step_ms
        served = self._served.get(timeframe)
        if served is not None and served.close == newest_close:
            served.widest = max(served.widest, limit)
            if limit <= max(served.asked, len(served.candles)):
                return served.candles[-limit:]
        width = max(limit, served.widest + WIDTH_MARGIN if served is not None else 0)
        rows = call_exchange(
            self._retry, self._exchange.fetch_ohlcv, self.symbol, timeframe, limit=width + 1
        )
        closed = [Candle(*row) for row in rows if int(row[0]) + step_ms <= now_ms]
        # Kept only when it holds the newest closed candle: an exchange still publishing it
        # is asked again.
        if closed and closed[-1].ts + step_ms == newest_close:
            self._served[timeframe] = _Served(newest_close, width, closed, limit)
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
