"""What the dashboard and the report show of a run, built from the query layer and the metrics:
its performance against buy & hold and exposure-matched buy & hold, its chart series (at most
MAX_POINTS rows, times in UTC seconds, values rounded to what a chart shows), its fills as chart
markers, each cycle's outcome in words, and the Jinja filters both write numbers with. The
market is in market_view, the arms in arm_view.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from autotrader.db.models import Cycle, Trade
from autotrader.research import formats, queries
from autotrader.research.arms import arm_label, arm_short
from autotrader.research.metrics import (
    Mark,
    RoundTrip,
    annualised,
    buy_and_hold,
    drawdowns,
    equity_points,
    hourly,
    max_drawdown,
    mean_exposure,
    returns_of,
    sharpe,
    sortino,
    thin,
    win_rate,
)
from autotrader.tools.ledger import quote_fee

MAX_POINTS = 1200  # about the pixels a chart has across
ANNUALISE_AFTER = timedelta(days=7)  # a shorter run's annualised return says nothing


@dataclass(frozen=True)
class Performance:
    """A run's result, every figure from its own rows (see metrics for the definitions)."""

    start: datetime | None
    end: datetime | None
    start_equity: Decimal | None
    final_equity: Decimal | None
    total_return: float | None
    annualised_return: float | None
    buy_and_hold: float | None
    mean_exposure: float
    exposure_matched: float | None  # buy & hold at the agent's mean exposure
    max_drawdown: float
    sharpe: float | None
    sortino: float | None
    trades: int
    fees: Decimal
    round_trips: int  # closed
    won: int
    realized_pnl: Decimal
    position: Decimal  # base asset held at the end
    position_value: Decimal | None
    last_price: Decimal | None

    @property
    def win_rate(self) -> float | None:
        return self.won / self.round_trips if self.round_trips else None

    @property
    def record(self) -> str:
        """The round trips as a trader says it: '21 of 74 won (28%)'."""
        share = f" ({formats.share(self.win_rate)})" if self.win_rate is not None else ""
        return f"{self.won} of {self.round_trips} won{share}"

    @property
    def against_hold(self) -> float | None:
        """The agent's return less buy & hold's (a difference in percentage points)."""
        if self.total_return is None or self.buy_and_hold is None:
            return None
        return self.total_return - self.buy_and_hold

    @property
    def against_matched(self) -> float | None:
        """The agent's return less exposure-matched buy & hold's."""
        if self.total_return is None or self.exposure_matched is None:
            return None
        return self.total_return - self.exposure_matched

    @property
    def pnl(self) -> Decimal | None:
        if self.start_equity is None or self.final_equity is None:
            return None
        return self.final_equity - self.start_equity


def performance(
    marks: Sequence[Mark], fills: Sequence[Trade], trips: Sequence[RoundTrip]
) -> Performance:
    first, last = (marks[0], marks[-1]) if marks else (None, None)
    total = float(last.equity / first.equity - 1) if first and last and first.equity else None
    hold = float(last.price / first.price - 1) if first and last and first.price else None
    exposure = mean_exposure(marks)
    period = returns_of(hourly(equity_points(marks)))
    won, closed = win_rate(trips)
    return Performance(
        start=first.ts if first else None,
        end=last.ts if last else None,
        start_equity=first.equity if first else None,
        final_equity=last.equity if last else None,
        total_return=total,
        annualised_return=annualised(total, first.ts, last.ts)
        if first and last and total is not None and last.ts - first.ts >= ANNUALISE_AFTER
        else None,
        buy_and_hold=hold,
        mean_exposure=exposure,
        exposure_matched=None if hold is None else exposure * hold,
        max_drawdown=max_drawdown(float(m.equity) for m in marks),
        sharpe=sharpe(period),
        sortino=sortino(period),
        trades=len(fills),
        fees=sum((quote_fee(t) for t in fills), Decimal(0)),
        round_trips=closed,
        won=won,
        realized_pnl=sum((t.pnl for t in trips), Decimal(0)),
        position=last.base if last else Decimal(0),
        position_value=last.base * last.price if last else None,
        last_price=last.price if last else None,
    )


def utc_seconds(moment: datetime) -> int:
    return int(moment.timestamp())


def chart_series(marks: Sequence[Mark], most: int = MAX_POINTS) -> dict[str, Any]:
    """Equity, both benchmarks, drawdown (fraction below peak), exposure and position, as
    columns over one `time` column (UTC seconds) of at most `most` snapshots."""
    kept = thin([m.ts for m in marks], most)
    exposure = mean_exposure(marks)

    def column(values: Sequence[float], digits: int) -> list[float]:
        return [round(values[i], digits) for i in kept]

    equity = equity_points(marks)
    return {
        "time": [utc_seconds(marks[i].ts) for i in kept],
        "equity": column([p.value for p in equity], 2),
        "hold": column([p.value for p in buy_and_hold(marks)], 2),
        "matched": column([p.value for p in buy_and_hold(marks, exposure)], 2),
        "drawdown": column([p.value for p in drawdowns(equity)], 6),
        "exposure": column([m.exposure for m in marks], 4),
        "position": column([float(m.base) for m in marks], 8),
        "mean_exposure": round(exposure, 4),
    }


def position_series(marks: Sequence[Mark], most: int = MAX_POINTS) -> dict[str, list[float]]:
    """The base asset held, as `time` and `value` columns (the market chart's lower pane)."""
    series = chart_series(marks, most)
    return {"time": series["time"], "value": series["position"]}


def fill_markers(fills: Sequence[Trade], step_secs: int) -> list[dict[str, Any]]:
    """Each fill at the open time of the candle it filled in (the chart's own bar)."""
    return [
        {
            "time": utc_seconds(t.ts_utc) - utc_seconds(t.ts_utc) % step_secs,
            "at": utc_seconds(t.ts_utc),
            "side": t.side,
            "qty": format(t.qty.normalize(), "f"),
            "price": f"{t.price:,.2f}",
        }
        for t in fills
    ]


def utc(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def cycle_outcome(cycle: Cycle) -> str:
    """What a cycle did, in a word or two: 'BUY filled', 'BUY revised' (filled at the Judge's
    quantity), 'SELL REJECT', 'BUY error' (approved, not executed), 'hold', 'observe', 'failed'."""
    if cycle.status == "ERROR":
        return "failed"
    if cycle.status == "OPEN":
        return "unfinished"  # decided, its last rows not yet written (or it crashed there)
    if cycle.action not in ("BUY", "SELL"):
        return "observe" if cycle.plan_mode == "OBSERVE" else "hold"
    if cycle.executed:
        return f"{cycle.action} {'revised' if cycle.verdict == 'REVISE' else 'filled'}"
    return f"{cycle.action} {'REJECT' if cycle.verdict == 'REJECT' else 'error'}"


def template_filters() -> dict[str, Callable[..., Any]]:
    """The Jinja filters both the dashboard's pages and the report's page write numbers with."""
    return {
        "money": formats.money,
        "pct": formats.pct,
        "points": formats.points,
        "bp": formats.bp,
        "qty": formats.qty,
        "ratio": formats.ratio,
        "share": formats.share,
        "when": formats.when,
        "wakeup": formats.wakeup,
        "millis": formats.millis,
        "count": formats.count,
        "arm_label": arm_label,
        "arm_short": arm_short,
        "short_trace": queries.short_trace,
        "tojson_compact": lambda value: json.dumps(value, separators=(",", ":"), default=str),
        "fromiso": lambda text: datetime.fromisoformat(text) if text else None,
    }


def script_json(value: Any) -> str:
    """JSON safe to embed in a page's <script type="application/json"> element."""
    return json.dumps(value, separators=(",", ":")).replace("</", "<\\/")
