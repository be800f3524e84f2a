"""The seed's get_ohlcv tool body: closed candles of the served market, oldest first."""

from __future__ import annotations

from typing import Any

from autotrader.errors import DataError
from autotrader.exchange.base import MarketData


def get_ohlcv(market: MarketData, symbol: str, timeframe: str, limit: int) -> dict[str, Any]:
    """The agents' view: `{"ohlcv": [[ts, o, h, l, c, v], ...]}` of closed candles."""
    if symbol != market.symbol:
        raise DataError(f"this feed serves {market.symbol}, not {symbol}")
    return {"ohlcv": [list(candle) for candle in market.ohlcv(timeframe, limit)]}
