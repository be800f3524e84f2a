"""Performance and research metrics of a run, as pure functions of its stored rows.

Definitions (empyrical's, which the tests compare against):
- period returns: simple returns of the equity curve on an hourly grid (the last snapshot in
  each UTC hour), so irregular wake-ups do not weigh the statistics;
- Sharpe: mean / sample standard deviation (ddof 1) of the hourly returns, risk-free rate 0,
  times sqrt(24 * 365): crypto trades around the clock;
- Sortino: mean / sqrt(mean(min(r, 0)^2)) of the same returns, times sqrt(24 * 365);
- max drawdown: the largest fall of equity from its running peak, as a fraction of the peak;
- annualised return: (1 + total) ** (1 / years) - 1 over the run's calendar span;
- exposure: the value of the base asset held / equity, at each snapshot; its mean is weighted by
  the time until the next snapshot;
- exposure-matched buy & hold: the starting equity with that mean exposure in the base asset
  bought at the first price and held (the rest in cash): equity0 * (1 + e * (p / p0 - 1));
- a round trip runs from flat to flat again; its PnL is the quote received less the quote paid,
  fees included (average-cost books, as the ledger keeps them).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from itertools import pairwise
from typing import Literal

from autotrader.exchange.accounting import ZERO, Books, apply_fill
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
    ts: datetime


@dataclass(frozen=True)
class RoundTrip:
    """From a buy out of flat to the sell that makes the account flat again (`closed` None while
    the position is still open)."""

    opened: datetime
    closed: datetime | None
    fills: int
    qty: Decimal  # the most held during the trip
    entry_price: Decimal  # quantity-weighted mean of the buys
    exit_price: Decimal | None  # of the sells
    fees: Decimal  # in the quote asset
    pnl: Decimal  # realized, fees included; 0 while open
    cost: Decimal  # quote paid for the buys, fees included

    @property
    def net_return(self) -> float | None:
        return float(self.pnl / self.cost) if self.closed and self.cost > 0 else None


DUST_FRACTION = Decimal("0.01")  # left over below 1% of the trip's peak: flat (step rounding)


@dataclass
class _OpenTrip:
    opened: datetime
    realized_before: Decimal
    fills: int = 0
    peak: Decimal = ZERO
    bought: Decimal = ZERO
    buy_value: Decimal = ZERO
    sold: Decimal = ZERO
    sell_value: Decimal = ZERO
    fees: Decimal = ZERO
    cost: Decimal = ZERO

    def close(self, closed: datetime | None, realized: Decimal) -> RoundTrip:
        return RoundTrip(
            opened=self.opened,
            closed=closed,
            fills=self.fills,
            qty=self.peak,
            entry_price=self.buy_value / self.bought if self.bought else ZERO,
            exit_price=self.sell_value / self.sold if self.sold else None,
            fees=self.fees,
            pnl=realized - self.realized_before if closed else ZERO,
            cost=self.cost,
        )


def round_trips(trades: Sequence[TradeRow]) -> list[RoundTrip]:
    """The trades, in order, grouped into round trips on the ledger's average-cost books."""
    books = Books(ZERO, ZERO, ZERO, ZERO)
    trips: list[RoundTrip] = []
    trip: _OpenTrip | None = None
    for trade in trades:
        side: Literal["BUY", "SELL"] = "SELL" if trade.side == "SELL" else "BUY"
        before = books
        books = apply_fill(books, side, trade.qty, trade.price, trade.fee, trade.fee_in_quote)
        if trip is None:
            if side == "SELL":  # selling what was held before the run: no trip of this run
                continue
            trip = _OpenTrip(trade.ts, before.realized_pnl)
        trip.fills += 1
        trip.fees += trade.fee if trade.fee_in_quote else trade.fee * trade.price
        trip.peak = max(trip.peak, books.base)
        if side == "BUY":
            trip.bought += trade.qty
            trip.buy_value += trade.qty * trade.price
            trip.cost += before.quote - books.quote
        else:
            trip.sold += trade.qty
            trip.sell_value += trade.qty * trade.price
            if books.base <= trip.peak * DUST_FRACTION:
                trips.append(trip.close(trade.ts, books.realized_pnl))
                trip = None
    if trip is not None:
        trips.append(trip.close(None, books.realized_pnl))
    return trips


def win_rate(trips: Sequence[RoundTrip]) -> tuple[int, int]:
    """(round trips closed at a profit net of fees, round trips closed)."""
    closed = [trip for trip in trips if trip.closed is not None]
    return sum(trip.pnl > 0 for trip in closed), len(closed)


# --- the portfolio over time ---


@dataclass(frozen=True)
class Mark:
    """A portfolio snapshot as the metrics read it: equity and price in the quote asset, and the
    base asset held."""

    ts: datetime
    equity: Decimal
    price: Decimal
    base: Decimal

    @property
    def exposure(self) -> float:
        return float(self.base * self.price / self.equity) if self.equity > 0 else 0.0


def mean_exposure(marks: Sequence[Mark]) -> float:
    """Exposure averaged over time: each snapshot weighs until the next one."""
    if len(marks) < 2:
        return marks[0].exposure if marks else 0.0
    weighted = sum(a.exposure * (b.ts - a.ts).total_seconds() for a, b in pairwise(marks))
    span = (marks[-1].ts - marks[0].ts).total_seconds()
    return weighted / span if span > 0 else marks[0].exposure


def buy_and_hold(marks: Sequence[Mark], exposure: float = 1.0) -> list[Point]:
    """Equity of buying `exposure` of the starting equity in the base asset at the first price
    and holding it (1.0: all in)."""
    if not marks:
        return []
    start, first = float(marks[0].equity), float(marks[0].price)
    return [Point(m.ts, start * (1 + exposure * (float(m.price) / first - 1))) for m in marks]


def equity_points(marks: Sequence[Mark]) -> list[Point]:
    return [Point(m.ts, float(m.equity)) for m in marks]


@dataclass(frozen=True)
class PeriodReturn:
    """One calendar day or month (UTC): the agent's return and buy & hold's over it."""

    label: str
    agent: float
    hold: float


def period_returns(marks: Sequence[Mark], period: Literal["day", "month"]) -> list[PeriodReturn]:
    """Returns per UTC day or month, each from the last snapshot before the period (the first
    snapshot, for the first period) to the period's last snapshot."""
    key_format = "%Y-%m-%d" if period == "day" else "%Y-%m"
    last_of: dict[str, Mark] = {}
    for mark in marks:
        last_of[mark.ts.strftime(key_format)] = mark
    rows: list[PeriodReturn] = []
    previous = marks[0] if marks else None
    for label, last in last_of.items():
        assert previous is not None
        agent = float(last.equity / previous.equity - 1) if previous.equity else 0.0
        hold = float(last.price / previous.price - 1) if previous.price else 0.0
        rows.append(PeriodReturn(label, agent, hold))
        previous = last
    return rows


def thin(times: Sequence[datetime], most: int) -> list[int]:
    """Indices of at most `most` of the times, for a chart: the first, and the last of each of
    `most - 1` equal time slices (so the last time too)."""
    if len(times) <= most or most < 2:
        return list(range(len(times)))
    start, slices = times[0], most - 1  # the first time, and the last of each slice
    width = (times[-1] - start).total_seconds() / slices
    if width <= 0:
        return [0, len(times) - 1]
    last_in: dict[int, int] = {}
    for index, moment in enumerate(times):
        last_in[min(slices - 1, int((moment - start).total_seconds() // width))] = index
    return sorted({0, *last_in.values()})


# --- research ---


@dataclass(frozen=True)
class MeasuredRow:
    arm: str
    reward: float
    measured_ts: datetime


@dataclass(frozen=True)
class PosteriorPoint:
    ts: datetime
    mean: float
    low: float
    high: float


def posterior_paths(
    measured: Sequence[MeasuredRow], half_life_secs: float
) -> dict[str, list[PosteriorPoint]]:
    """Each arm's posterior mean and 95% interval after each of its measurements, replaying the
    running sums."""
    stats: dict[str, ArmStats] = {}
    paths: dict[str, list[PosteriorPoint]] = {}
    for row in sorted(measured, key=lambda r: r.measured_ts):
        stats[row.arm] = stats.get(row.arm, ArmStats()).add(
            row.reward, row.measured_ts, half_life_secs
        )
        now = posterior(stats[row.arm])
        low, high = now.interval()
        paths.setdefault(row.arm, []).append(PosteriorPoint(row.measured_ts, now.mean, low, high))
    return paths
