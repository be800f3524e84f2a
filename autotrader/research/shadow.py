"""Experiments that cost nothing: every arm's rule run on closed candles as a shadow book.

Each arm is a deterministic rule over public candles, so what it would hold can be known
without trading it. `advance` walks the candles that closed since a book last looked (and only
those: a candle still open at `now` is never read), asks the arm's rule for its stance on the
`window` candles ending there (what the Trader would see), enters at that candle's close when it
turns LONG and exits when it turns FLAT. A closed position is one experiment: its reward is
entry to exit net of both sides' fee and slippage, credited to the regime it was entered in. A
stance that leaves the book as it was is no experiment. The cash arm holds nothing and earns
exactly 0, so it is not simulated.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal

from autotrader.exchange.candles import Candle
from autotrader.exchange.feeds import price_of
from autotrader.research.regime import POOLED, REGIME_CANDLES, regime_of
from autotrader.schemas import Hold, Strategy
from autotrader.tools.strategy import strategy_signal


@dataclass(frozen=True)
class Book:
    """What one arm's rule holds after the newest closed candle it has seen (`seen`, that
    candle's open time in ms; None before its first)."""

    arm: str
    seen: int | None = None
    long: bool = False
    entry_price: Decimal | None = None
    entry_ts: int | None = None  # close time (ms) of the candle it entered on
    entry_regime: str | None = None


@dataclass(frozen=True)
class Position:
    """One closed shadow position: an experiment of `arm` in `regime`."""

    arm: str
    regime: str
    entry_ts: int
    entry_price: Decimal
    exit_ts: int
    exit_price: Decimal
    reward: float


def position_reward(entry: Decimal, exit_: Decimal, one_way_cost: Decimal) -> float:
    """A long from `entry` to `exit_`, buying `one_way_cost` above the price and selling as
    far below it (fee plus slippage, each side): exit (1 - c) / (entry (1 + c)) - 1."""
    return float(exit_ * (1 - one_way_cost) / (entry * (1 + one_way_cost)) - 1)


def candles_to_read(books: Sequence[Book], now_ms: int, step_ms: int, window: int) -> int:
    """How many of the newest closed candles `advance` needs: every one no book has seen, with
    the history the rules and the regime read before it."""
    history = max(window, REGIME_CANDLES)
    seen = [b.seen for b in books]
    if not seen or None in seen:
        return BACKFILL_CANDLES
    oldest = min(s for s in seen if s is not None)
    return min(BACKFILL_CANDLES, max(0, (now_ms - oldest) // step_ms) + history)


# A book's first look reaches this far back (Binance serves 1000 candles a request): the arms'
# record on the history before the run is evidence too, and it is all closed candles.
BACKFILL_CANDLES = 1000


def advance(
    books: Mapping[str, Book],
    strategies: Mapping[str, Strategy],
    candles: Sequence[Candle],
    *,
    now_ms: int,
    step_ms: int,
    window: int,
    one_way_cost: Decimal,
) -> tuple[dict[str, Book], list[Position]]:
    """Every book moved over the candles of `candles` that closed by `now_ms` and that it has
    not seen; the positions closed on the way, oldest first."""
    closed = [c for c in candles if c.ts + step_ms <= now_ms]
    closes = [c.close for c in closed]
    moved = {arm: books.get(arm, Book(arm)) for arm in strategies}
    positions: list[Position] = []
    # A book's first look starts where a full window of candles exists.
    first = min(window - 1, len(closed))
    regimes: dict[int, str] = {}
    for index in range(first, len(closed)):
        candle = closed[index]
        for arm, strategy in strategies.items():
            book = moved[arm]
            if isinstance(strategy, Hold) or (book.seen is not None and candle.ts <= book.seen):
                continue
            signal = strategy_signal(strategy, closed[index + 1 - window : index + 1])
            price, close_ts = price_of(candle.close), candle.ts + step_ms
            if signal.stance == "LONG" and not book.long:
                if index not in regimes:
                    regimes[index] = regime_of(closes[: index + 1]) or POOLED
                book = replace(
                    book,
                    long=True,
                    entry_price=price,
                    entry_ts=close_ts,
                    entry_regime=regimes[index],
                )
            elif signal.stance == "FLAT" and book.long:
                assert book.entry_price is not None and book.entry_ts is not None
                positions.append(
                    Position(
                        arm,
                        book.entry_regime or POOLED,
                        book.entry_ts,
                        book.entry_price,
                        close_ts,
                        price,
                        position_reward(book.entry_price, price, one_way_cost),
                    )
                )
                book = replace(book, long=False, entry_price=None, entry_ts=None, entry_regime=None)
            moved[arm] = replace(book, seen=candle.ts)
    positions.sort(key=lambda p: (p.exit_ts, p.arm))
    return moved, positions
