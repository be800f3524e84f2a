"""The report's and dashboard's metrics: the same definitions as empyrical's (Sharpe, Sortino,
drawdown), round trips that add up to the ledger's books, exposure and its matched benchmark,
period returns that compound to the total, bounded chart series."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Literal

import empyrical
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from autotrader.db.readonly import open_readonly
from autotrader.exchange.accounting import Books, apply_fill
from autotrader.research import queries
from autotrader.research.metrics import (
    HOURS_PER_YEAR,
    Mark,
    TradeRow,
    buy_and_hold,
    equity_points,
    hourly,
    max_drawdown,
    mean_exposure,
    period_returns,
    returns_of,
    round_trips,
    sharpe,
    sortino,
    thin,
)

T0 = datetime(2025, 9, 29, tzinfo=UTC)


@pytest.fixture(scope="module")
def run_marks(replay_db: Path) -> list[Mark]:
    db = open_readonly(replay_db)
    return queries.marks(db, queries.run_overview(db, None).run)


def test_sharpe_and_sortino_are_empyricals_on_hourly_returns(run_marks: list[Mark]) -> None:
    returns = returns_of(hourly(equity_points(run_marks)))
    assert len(returns) > 5
    series = np.array(returns)
    assert sharpe(returns) == pytest.approx(
        empyrical.sharpe_ratio(series, annualization=HOURS_PER_YEAR)
    )
    assert sortino(returns) == pytest.approx(
        empyrical.sortino_ratio(series, annualization=HOURS_PER_YEAR)
    )


def test_max_drawdown_is_empyricals(run_marks: list[Mark]) -> None:
    equity = [float(m.equity) for m in run_marks]
    returns = np.diff(equity) / np.array(equity[:-1])
    assert max_drawdown(equity) == pytest.approx(-empyrical.max_drawdown(returns))


trip_sizes = st.lists(
    st.tuples(
        st.decimals("0.0001", "0.01", places=5),  # bought
        st.integers(1, 3),  # in how many sells
        st.decimals("90000", "120000", places=2),  # buy price
        st.decimals("90000", "120000", places=2),  # sell price
    ),
    min_size=1,
    max_size=6,
)


@given(trips=trip_sizes)
def test_round_trip_pnl_adds_up_to_the_books_realized_pnl(
    trips: list[tuple[Decimal, int, Decimal, Decimal]],
) -> None:
    fee = Decimal("0.001")
    rows: list[TradeRow] = []
    books = Books(Decimal(0), Decimal(0), Decimal(0), Decimal(0))

    def fill(side: Literal["BUY", "SELL"], qty: Decimal, price: Decimal) -> None:
        nonlocal books
        at = T0 + timedelta(minutes=len(rows))
        rows.append(TradeRow(side, qty, price, qty * price * fee, True, at))
        books = apply_fill(books, side, qty, price, qty * price * fee)

    for qty, sells, buy, sell in trips:
        fill("BUY", qty, buy)
        parts = [qty / sells] * (sells - 1)
        for part in [*parts, qty - sum(parts, Decimal(0))]:
            fill("SELL", part, sell)
    found = round_trips(rows)
    assert [t.fills for t in found] == [1 + sells for _, sells, _, _ in trips]
    assert all(t.closed is not None for t in found)
    # Equal to the last digit Decimal keeps (28 significant: each trip's PnL is a difference).
    assert abs(sum((t.pnl for t in found), Decimal(0)) - books.realized_pnl) < Decimal("1e-20")


def test_an_open_position_is_an_open_round_trip_with_no_pnl_yet() -> None:
    rows = [TradeRow("BUY", Decimal("0.001"), Decimal("100000"), Decimal("0.1"), True, T0)]
    (trip,) = round_trips(rows)
    assert trip.closed is None and trip.pnl == 0 and trip.net_return is None


def _mark(minutes: int, equity: str, price: str, base: str) -> Mark:
    return Mark(T0 + timedelta(minutes=minutes), Decimal(equity), Decimal(price), Decimal(base))


def test_mean_exposure_weighs_each_snapshot_until_the_next() -> None:
    # 10% long for 30 minutes, flat for 90: a quarter of the time at 10%.
    marks = [_mark(0, "1000", "100", "1"), _mark(30, "1000", "100", "0")]
    marks.append(_mark(120, "1000", "100", "0"))
    assert mean_exposure(marks) == pytest.approx(0.025)


def test_exposure_matched_buy_and_hold_scales_the_price_move_by_the_exposure() -> None:
    marks = [_mark(0, "1000", "100", "0"), _mark(60, "1000", "110", "0")]
    assert buy_and_hold(marks)[-1].value == pytest.approx(1100)
    assert buy_and_hold(marks, 0.1)[-1].value == pytest.approx(1010)


def test_daily_returns_compound_to_the_total_return(run_marks: list[Mark]) -> None:
    days = period_returns(run_marks, "day")
    total = float(run_marks[-1].equity / run_marks[0].equity - 1)
    assert float(np.prod([1 + d.agent for d in days]) - 1) == pytest.approx(total)
    hold = float(run_marks[-1].price / run_marks[0].price - 1)
    assert float(np.prod([1 + d.hold for d in days]) - 1) == pytest.approx(hold)


@given(count=st.integers(0, 400), most=st.integers(2, 50))
def test_a_thinned_series_keeps_its_ends_and_at_most_the_limit(count: int, most: int) -> None:
    times = [T0 + timedelta(minutes=5 * i) for i in range(count)]
    kept = thin(times, most)
    assert len(kept) <= most or (count <= most and len(kept) == count)
    assert kept == sorted(set(kept))
    if count:
        assert kept[0] == 0 and kept[-1] == count - 1
