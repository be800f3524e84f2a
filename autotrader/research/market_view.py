"""The market as the dashboard and the report draw it: the candles a replay run replayed
(checked against its own prices), else OHLC of its mark prices, at most MAX_CANDLES bars."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from autotrader.config import TIMEFRAME_SECONDS
from autotrader.db.models import Run, Trade
from autotrader.exchange.candles import Candle, CandleFile, resample
from autotrader.research.metrics import Mark
from autotrader.research.views import fill_markers, position_series

MAX_CANDLES = 1500  # a month of 30-minute bars; a chart is about a thousand pixels wide


@dataclass(frozen=True)
class MarketView:
    """Candles over the run's span, where they come from, and their step."""

    source: str
    step_secs: int
    candles: list[Candle]

    def as_json(self) -> list[list[float]]:
        return [[c.ts // 1000, c.open, c.high, c.low, c.close] for c in self.candles]


def _display_step(step_secs: int, count: int, most: int) -> int:
    """The finest exchange timeframe, a multiple of the data's step, that keeps `most` bars."""
    for seconds in sorted(TIMEFRAME_SECONDS.values()):
        if (
            seconds >= step_secs
            and seconds % step_secs == 0
            and count * step_secs / seconds <= most
        ):
            return seconds
    return max(TIMEFRAME_SECONDS.values())


def _replayed(run: Run, marks: Sequence[Mark], data: CandleFile) -> list[Candle] | None:
    """The file's candles over the run, if this file is what the run replayed: the close of
    the candle that closed at the first mark is the first mark's price."""
    if run.feed != "replay" or not marks:
        return None
    step = data.step_ms
    first, last = marks[0].ts.timestamp() * 1000, marks[-1].ts.timestamp() * 1000
    closing = {c.ts + step: c for c in data.candles}
    anchor = closing.get(int(first))
    if anchor is None or Decimal(str(anchor.close)) != marks[0].price:
        return None
    return [c for c in data.candles if first <= c.ts + step and c.ts < last + step]


def _from_marks(marks: Sequence[Mark], step_secs: int) -> list[Candle]:
    """OHLC of the cycles' mark prices per step (a live run keeps no candles)."""
    step_ms = step_secs * 1000
    bars: list[Candle] = []
    for mark in marks:
        ms = int(mark.ts.timestamp() * 1000)
        bucket, price = ms - ms % step_ms, float(mark.price)
        if bars and bars[-1].ts == bucket:
            b = bars[-1]
            bars[-1] = Candle(bucket, b.open, max(b.high, price), min(b.low, price), price, 0.0)
        else:
            bars.append(Candle(bucket, price, price, price, price, 0.0))
    return bars


def market_view(
    run: Run,
    marks: Sequence[Mark],
    data: CandleFile | None,
    path: Path | None,
    most: int = MAX_CANDLES,
) -> MarketView:
    """The replayed file's candles (checked against the run's prices), else hourly OHLC of the
    run's mark prices; coarser bars when there are more than `most`."""
    candles = _replayed(run, marks, data) if data is not None else None
    if candles and data is not None and path is not None:
        step = _display_step(data.step_ms // 1000, len(candles), most)
        bars = resample(candles, data.step_ms, step * 1000)
        return MarketView(f"{path.name} (the candles this run replayed)", step, bars)
    span = (marks[-1].ts - marks[0].ts).total_seconds() if marks else 0
    step = _display_step(TIMEFRAME_SECONDS.get(run.timeframe, 300), int(span // 300) + 1, most)
    step = max(step, 3600)
    return MarketView(
        "mark prices of the run's cycles (no candle file for this run)",
        step,
        _from_marks(marks, step),
    )


def market_chart(view: MarketView, marks: Sequence[Mark], fills: Sequence[Trade]) -> dict[str, Any]:
    """What the market chart draws (the API's MarketOut): candles, each fill on its bar, and the
    position beneath."""
    return {
        "source": view.source,
        "step_secs": view.step_secs,
        "candles": view.as_json(),
        "fills": fill_markers(fills, view.step_secs),
        "position": position_series(marks),
    }
