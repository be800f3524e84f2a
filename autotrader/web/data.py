"""What both the pages and the JSON API serve, assembled once from the query layer: the
dashboard's read-only handles, a run's overview and performance, and its figures written as a
person writes them (the overview page shows them and its live updates replace them)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from fastapi import Request

from autotrader.config import Settings
from autotrader.db import Database
from autotrader.exchange.candles import CandleFile
from autotrader.research import arm_view, formats, market_view, queries, views
from autotrader.research.metrics import Mark
from autotrader.research.queries import RunOverview
from autotrader.research.views import Performance, performance
from autotrader.web.api_models import RunOut, StatusOut

MEMO_ENTRIES = 64
T = TypeVar("T")


@dataclass(frozen=True)
class Dashboard:
    """The app's read-only handles: the database, the settings it was started with (half-life,
    cap, quote asset) and the candle file replay runs are shown on; and a small memo of what
    was computed for a run as it stood (a finished run's pages are built once)."""

    db: Database
    settings: Settings
    candles: CandleFile | None
    candle_path: Path | None
    _memo: dict[tuple[Any, ...], Any] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def memo(self, what: str, overview: RunOverview, build: Callable[[], T]) -> T:
        """`build()`, or what it gave for this run in this state before: the state is the last
        cycle, fill and snapshot, so anything the agent writes makes it new. Requests run on
        threads: two may build the same thing once each, never corrupt the memo."""
        last = overview.last_cycle
        key = (what, overview.run.run_id, last and last.id, overview.trades, overview.last)
        with self._lock:
            if key in self._memo:
                found: T = self._memo[key]
                return found
        built = build()
        with self._lock:
            while len(self._memo) >= MEMO_ENTRIES:
                self._memo.pop(next(iter(self._memo)))
            self._memo[key] = built
        return built


def dashboard(request: Request) -> Dashboard:
    found: Dashboard = request.app.state.dashboard
    return found


def now() -> datetime:
    return datetime.now(UTC)


def run_out(overview: RunOverview) -> RunOut:
    run, last = overview.run, overview.last_cycle
    return RunOut(
        run_id=run.run_id,
        state=queries.run_state(overview, now()),
        status=run.status,
        mode=run.mode,
        feed=run.feed,
        symbol=run.symbol,
        timeframe=run.timeframe,
        provider=run.provider,
        models=json.loads(run.models_json),
        seed=run.seed,
        started_at=run.started_at,
        finished_at=run.finished_at,
        sim_start=run.sim_start,
        sim_end=run.sim_end,
        cycles=overview.cycles,
        error_cycles=overview.error_cycles,
        trades=overview.trades,
        last_cycle_ts=None if last is None else last.cycle_ts,
        next_wakeup=overview.next_wakeup,
        total_return=overview.total_return,
        buy_and_hold=overview.buy_and_hold,
    )


def status(db: Database, run_id: str | None) -> StatusOut:
    try:
        overview = queries.run_overview(db, run_id)
    except queries.NotFound:
        if run_id is not None:
            raise
        return StatusOut(
            run_id=None,
            state="no run yet",
            cycles=0,
            last_cycle_id=None,
            last_cycle_ts=None,
            next_wakeup=None,
        )
    last = overview.last_cycle
    return StatusOut(
        run_id=overview.run.run_id,
        state=queries.run_state(overview, now()),
        cycles=overview.cycles,
        last_cycle_id=None if last is None else last.id,
        last_cycle_ts=None if last is None else last.cycle_ts,
        next_wakeup=overview.next_wakeup,
    )


def marks_of(site: Dashboard, overview: RunOverview) -> list[Mark]:
    return site.memo("marks", overview, lambda: queries.marks(site.db, overview.run))


def performance_of(site: Dashboard, overview: RunOverview) -> Performance:
    def build() -> Performance:
        fills = queries.trades(site.db, overview.run.run_id)
        return performance(marks_of(site, overview), fills, queries.trips(fills))

    return site.memo("performance", overview, build)


def series_json(site: Dashboard, overview: RunOverview) -> str:
    """The charts' series (SeriesOut's shape) as JSON, safe to embed in a page too."""
    return site.memo(
        "series",
        overview,
        lambda: views.script_json(views.chart_series(marks_of(site, overview))),
    )


def display(overview: RunOverview, perf: Performance, base_asset: str) -> dict[str, str]:
    """The overview's figures as text, keyed by the page's data-field names."""
    last = overview.last_cycle
    return {
        "state": queries.run_state(overview, now()),
        "cycles": formats.count(overview.cycles),
        "last_cycle": formats.when(None if last is None else last.cycle_ts),
        "last_cycle_wall": formats.when(None if last is None else last.wall_ts, seconds=True),
        "next_wakeup": formats.when(overview.next_wakeup),
        "equity": formats.money(perf.final_equity),
        "start_equity": formats.money(perf.start_equity),
        "pnl": formats.money(perf.pnl, signed=True),
        "total_return": formats.pct(perf.total_return),
        "buy_and_hold": formats.pct(perf.buy_and_hold),
        "exposure_matched": formats.pct(perf.exposure_matched),
        "mean_exposure": formats.pct(perf.mean_exposure, 1, signed=False),
        "vs_hold": formats.points(perf.against_hold),
        "vs_matched": formats.points(perf.against_matched),
        "position": f"{formats.qty(perf.position)} {base_asset}",
        "position_value": formats.money(perf.position_value),
        "last_price": formats.money(perf.last_price),
        "fees": formats.money(perf.fees),
        "trades": formats.count(perf.trades),
        "round_trips": perf.record,
        "realized_pnl": formats.money(perf.realized_pnl, signed=True),
        "max_drawdown": formats.pct(perf.max_drawdown, signed=False),
        "sharpe": formats.ratio(perf.sharpe),
        "sortino": formats.ratio(perf.sortino),
    }


def market_json(site: Dashboard, overview: RunOverview) -> str:
    """The market chart's data (MarketOut's shape) as JSON: candles, fills on their bars, the
    position beneath."""

    def build() -> str:
        marks = marks_of(site, overview)
        seen = market_view.market_view(overview.run, marks, site.candles, site.candle_path)
        fills = queries.trades(site.db, overview.run.run_id)
        return views.script_json(market_view.market_chart(seen, marks, fills))

    return site.memo("market", overview, build)


def posterior_json(site: Dashboard, overview: RunOverview) -> str:
    """Each arm's posterior over time (ResearchOut.posterior_paths' shape) as JSON."""

    def build() -> str:
        half_life = site.settings.half_life_secs
        paths = arm_view.posterior_history(site.db, overview.run.scope, half_life)
        return views.script_json(arm_view.posterior_json(paths))

    return site.memo("posteriors", overview, build)
