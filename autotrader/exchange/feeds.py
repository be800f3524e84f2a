"""The replay feed: closed candles only, oldest first, from a real candle file.

ReplayFeed answers as of its clock's now and never returns a candle that closes after now; it
prices paper fills at the next candle's open. The live feed is in `live_feed.py`.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from autotrader.clock import Clock, from_ms, to_ms
from autotrader.config import TIMEFRAME_SECONDS
from autotrader.errors import VenueUnavailable
from autotrader.exchange.candles import Candle, load_candles, resample
from autotrader.schemas import Side


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
