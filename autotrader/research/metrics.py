"""Performance and research metrics of a run, as pure functions of its stored rows.

Returns are computed on an hourly grid of the equity curve (the last snapshot in each hour),
annualised with 24 * 365 periods: crypto trades around the clock.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from itertools import pairwise
from typing import Literal

from autotrader.exchange.accounting import Books, apply_fill
from autotrader.research.posteriors import ArmStats, posterior

HOURS_PER_YEAR = 24 * 365


@dataclass(frozen=True)
class Point:
    ts: datetime
    value: float


def hourly(points: Sequence[Point]) -> list[Point]:
    """The last point of each hour, in time order."""
    by_hour: dict[datetime, Point] = {}
    for point in points:
        by_hour[point.ts.replace(minute=0, second=0, microsecond=0)] = point
    return [by_hour[hour] for hour in sorted(by_hour)]


def returns_of(points: Sequence[Point]) -> list[float]:
    return [b.value / a.value - 1 for a, b in pairwise(points) if a.value > 0]


def sharpe(period_returns: Sequence[float], periods_per_year: int = HOURS_PER_YEAR) -> float | None:
    if len(period_returns) < 2:
        return None
    mean = sum(period_returns) / len(period_returns)
    var = sum((r - mean) ** 2 for r in period_returns) / (len(period_returns) - 1)
    return mean / math.sqrt(var) * math.sqrt(periods_per_year) if var > 0 else None


def sortino(
    period_returns: Sequence[float], periods_per_year: int = HOURS_PER_YEAR
) -> float | None:
    if len(period_returns) < 2:
        return None
    mean = sum(period_returns) / len(period_returns)
    downside = math.sqrt(sum(min(0.0, r) ** 2 for r in period_returns) / len(period_returns))
    return mean / downside * math.sqrt(periods_per_year) if downside > 0 else None


def below_peak(values: Iterable[float]) -> Iterator[float]:
    """Each value's fall from the running peak before it, as a fraction of that peak."""
    peak = float("-inf")
    for value in values:
        peak = max(peak, value)
        yield 1 - value / peak if peak > 0 else 0.0


def drawdowns(points: Sequence[Point]) -> list[Point]:
    return [
        Point(p.ts, fall)
        for p, fall in zip(points, below_peak(p.value for p in points), strict=True)
    ]


def max_drawdown(values: Iterable[float]) -> float:
    """The largest fall from a running peak, as a fraction of that peak."""
    return max(below_peak(values), default=0.0)


def annualised(total_return: float, start: datetime, end: datetime) -> float | None:
    years = (end - start).total_seconds() / (365 * 86400)
    if years <= 0 or total_return <= -1:
        return None
    return float((1 + total_return) ** (1 / years) - 1)


@dataclass(frozen=True)
class TradeRow:
    side: str
    qty: Decimal
    price: Decimal
    fee: Decimal
    fee_in_quote: bool


def win_rate(trades: Sequence[TradeRow]) -> tuple[int, int]:
    """(winning sells, sells): a sell wins when it realizes a profit net of fees on the average
    cost of what it sold (which includes the buys' fees)."""
    books = Books(Decimal(0), Decimal(0), Decimal(0), Decimal(0))
    wins = sells = 0
    for trade in trades:
        before = books.realized_pnl
        selling = trade.side == "SELL"
        side: Literal["BUY", "SELL"] = "SELL" if selling else "BUY"
        books = apply_fill(books, side, trade.qty, trade.price, trade.fee, trade.fee_in_quote)
        if selling:
            sells += 1
            wins += books.realized_pnl > before
    return wins, sells


@dataclass(frozen=True)
class MeasuredRow:
    arm: str
    reward: float
    measured_ts: datetime


def posterior_paths(
    measured: Sequence[MeasuredRow], half_life_secs: float
) -> dict[str, list[Point]]:
    """Each arm's posterior mean after each of its measurements, replaying the running sums."""
    stats: dict[str, ArmStats] = {}
    paths: dict[str, list[Point]] = {}
    for row in sorted(measured, key=lambda r: r.measured_ts):
        stats[row.arm] = stats.get(row.arm, ArmStats()).add(
            row.reward, row.measured_ts, half_life_secs
        )
        paths.setdefault(row.arm, []).append(Point(row.measured_ts, posterior(stats[row.arm]).mean))
    return paths
