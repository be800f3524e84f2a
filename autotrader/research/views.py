"""What the dashboard and the report show, built from the query layer and the metrics: a run's
performance against buy & hold and exposure-matched buy & hold, its chart series, the arms with
their posteriors, the weekly evaluations, and the market's candles with the fills on them.

Chart series are bounded (at most MAX_POINTS points, MAX_CANDLES candles), with times in UTC
seconds and values rounded to what a chart can show.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from autotrader.config import TIMEFRAME_SECONDS
from autotrader.db import Database
from autotrader.db.models import Cycle, Run, Trade
from autotrader.exchange.candles import Candle, CandleFile, resample
from autotrader.research import formats, queries
from autotrader.research.arms import arm_label, arm_short
from autotrader.research.evaluation import evaluation_key
from autotrader.research.metrics import (
    Mark,
    MeasuredRow,
    PosteriorPoint,
    RoundTrip,
    annualised,
    buy_and_hold,
    drawdowns,
    equity_points,
    hourly,
    max_drawdown,
    mean_exposure,
    posterior_paths,
    returns_of,
    sharpe,
    sortino,
    thin,
    win_rate,
)
from autotrader.research.store import read_posteriors
from autotrader.tools.ledger import quote_fee

MAX_POINTS = 2000  # more than a chart has pixels across
MAX_CANDLES = 1500  # a month of 30-minute bars; a chart is about a thousand pixels wide
MAX_PATH_POINTS = 1000
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


def _seconds(moment: datetime) -> int:
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
        "time": [_seconds(marks[i].ts) for i in kept],
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
            "time": _seconds(t.ts_utc) - _seconds(t.ts_utc) % step_secs,
            "at": _seconds(t.ts_utc),
            "side": t.side,
            "qty": format(t.qty.normalize(), "f"),
            "price": f"{t.price:,.2f}",
        }
        for t in fills
    ]


# --- the market ---


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


# --- research ---


@dataclass(frozen=True)
class ArmRow:
    arm: str
    label: str
    experiments: int
    explored: int
    measured: int
    mean_outcome: float | None
    posterior_mean: float
    low: float
    high: float
    evidence: int


def arm_rows(db: Database, scope: str, now: datetime, half_life_secs: float) -> list[ArmRow]:
    """Per arm, best posterior mean first: experiments, measured, mean outcome, posterior."""
    counts = queries.arm_counts(db, scope)
    rows = []
    for arm, post in read_posteriors(db, scope, now, half_life_secs).items():
        seen = counts.get(arm) or queries.ArmCounts(arm, 0, 0, 0, None)
        low, high = post.interval()
        rows.append(
            ArmRow(
                arm,
                arm_label(arm),
                seen.experiments,
                seen.explored,
                seen.measured,
                seen.mean_outcome,
                post.mean,
                low,
                high,
                post.count,
            )
        )
    return sorted(rows, key=lambda row: -row.posterior_mean)


def posterior_history(
    db: Database, scope: str, half_life_secs: float
) -> dict[str, list[PosteriorPoint]]:
    rows = [MeasuredRow(arm, reward, ts) for arm, reward, ts in queries.measured(db, scope)]
    paths = posterior_paths(rows, half_life_secs)
    return {arm: _thin_path(path, MAX_PATH_POINTS) for arm, path in sorted(paths.items())}


def _thin_path(path: list[PosteriorPoint], most: int) -> list[PosteriorPoint]:
    if len(path) <= most:
        return path
    stride = len(path) / most
    return [path[int(i * stride)] for i in range(most - 1)] + [path[-1]]


def posterior_json(paths: dict[str, list[PosteriorPoint]]) -> dict[str, Any]:
    """Per arm (with its label), [time, mean, low, high] in basis points."""
    return {
        arm: {
            "label": arm_label(arm),
            "points": [
                [
                    _seconds(p.ts),
                    round(p.mean * 1e4, 3),
                    round(p.low * 1e4, 3),
                    round(p.high * 1e4, 3),
                ]
                for p in path
            ],
        }
        for arm, path in paths.items()
    }


def weekly_evaluations(db: Database, scope: str) -> list[dict[str, Any]]:
    """The weekly evaluations the agent kept, oldest first."""
    return [value for _, value in queries.notes(db, evaluation_key(scope))]


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
