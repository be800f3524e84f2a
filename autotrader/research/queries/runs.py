"""Runs, their portfolio marks, fills and round trips."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import String, bindparam, case, func
from sqlalchemy import select as select_columns
from sqlmodel import col, select

from autotrader.config import split_symbol
from autotrader.db import Database
from autotrader.db.models import Cycle, PortfolioSnapshot, Run, Trade
from autotrader.research.metrics import Mark, RoundTrip, TradeRow, round_trips
from autotrader.research.queries.common import NotFound, Page, bounded


@dataclass(frozen=True)
class RunOverview:
    """A run with what the runs list shows: cycles, trades, first and last mark, last cycle."""

    run: Run
    cycles: int
    error_cycles: int
    trades: int
    first: Mark | None
    last: Mark | None
    last_cycle: Cycle | None

    @property
    def total_return(self) -> float | None:
        if self.first is None or self.last is None or not self.first.equity:
            return None
        return float(self.last.equity / self.first.equity - 1)

    @property
    def buy_and_hold(self) -> float | None:
        if self.first is None or self.last is None or not self.first.price:
            return None
        return float(self.last.price / self.first.price - 1)

    @property
    def next_wakeup(self) -> datetime | None:
        last = self.last_cycle
        return None if last is None else last.cycle_ts + timedelta(seconds=last.wakeup_secs)


LIVE_GRACE = timedelta(minutes=2)  # beyond a cycle's wakeup, before a RUNNING run looks dead


def run_state(overview: RunOverview, wall_now: datetime) -> str:
    """'running', 'stopped', 'finished', 'failed', or 'not responding' for a run still marked
    RUNNING whose last cycle is older than its wakeup allows (killed, or the machine stopped)."""
    status = overview.run.status
    if status != "RUNNING":
        return {"STOPPED": "stopped", "DONE": "finished", "FAILED": "failed"}.get(status, status)
    last = overview.last_cycle
    if last is None:
        return "starting"
    allowed = LIVE_GRACE + timedelta(seconds=last.wakeup_secs if overview.run.feed == "live" else 0)
    return "running" if wall_now - last.wall_ts <= allowed else "not responding"


def _mark(
    ts: datetime, equity: Decimal | None, price: Decimal | None, held: str | None
) -> Mark | None:
    if equity is None or price is None:
        return None
    return Mark(ts, equity, price, Decimal(held or "0"))


def _snapshot_mark(snapshot: PortfolioSnapshot, base: str) -> Mark | None:
    held = json.loads(snapshot.balances_json).get(base)
    return _mark(snapshot.ts_utc, snapshot.equity, snapshot.price, held)


def _held_path(base: str) -> str:
    """The JSON path of an asset's balance in balances_json (SQLite's json_extract)."""
    return f'$."{base}"'


# A run's snapshots on the compiled fast path, the base asset read by SQLite's json_extract: a
# month is 3,000 rows, and ORM objects or json.loads in Python cost several times the query.
MARK_COLUMNS = (
    col(PortfolioSnapshot.ts_utc),
    col(PortfolioSnapshot.equity),
    col(PortfolioSnapshot.price),
    func.json_extract(col(PortfolioSnapshot.balances_json), bindparam("held_path"), type_=String),
)
MARKS = (
    select_columns(*MARK_COLUMNS)
    .where(col(PortfolioSnapshot.run_id) == bindparam("run_id"))
    .order_by(col(PortfolioSnapshot.id))
)


def runs(db: Database) -> list[RunOverview]:
    """Every run, newest first."""
    with db.session() as session:
        found = session.exec(select(Run).order_by(col(Run.started_at).desc())).all()
        cycles = {
            run_id: (total, errors, last_id)
            for run_id, total, errors, last_id in session.exec(
                select(
                    Cycle.run_id,
                    func.count(),
                    func.sum(case((col(Cycle.status) == "ERROR", 1), else_=0)),
                    func.max(Cycle.id),
                ).group_by(col(Cycle.run_id))
            ).all()
        }
        trades = dict(
            session.exec(select(Trade.run_id, func.count()).group_by(col(Trade.run_id))).all()
        )
        ends = {
            run_id: (first, last)
            for run_id, first, last in session.exec(
                select(
                    PortfolioSnapshot.run_id,
                    func.min(PortfolioSnapshot.id),
                    func.max(PortfolioSnapshot.id),
                ).group_by(col(PortfolioSnapshot.run_id))
            ).all()
        }
        snapshot_ids = [i for pair in ends.values() for i in pair]
        snapshots = {
            s.id: s
            for s in session.exec(
                select(PortfolioSnapshot).where(col(PortfolioSnapshot.id).in_(snapshot_ids))
            ).all()
        }
        last_ids = [last for _, _, last in cycles.values()]
        last_cycles = {
            c.run_id: c for c in session.exec(select(Cycle).where(col(Cycle.id).in_(last_ids)))
        }
    overviews = []
    for run in found:
        total, errors, _ = cycles.get(run.run_id, (0, 0, None))
        first_id, last_id = ends.get(run.run_id, (None, None))
        base = split_symbol(run.symbol)[0]
        first, last = snapshots.get(first_id), snapshots.get(last_id)
        overviews.append(
            RunOverview(
                run=run,
                cycles=total,
                error_cycles=int(errors or 0),
                trades=trades.get(run.run_id, 0),
                first=None if first is None else _snapshot_mark(first, base),
                last=None if last is None else _snapshot_mark(last, base),
                last_cycle=last_cycles.get(run.run_id),
            )
        )
    return overviews


def run_overview(db: Database, run_id: str | None) -> RunOverview:
    """One run (the newest when `run_id` is None)."""
    everything = runs(db)
    if not everything:
        raise NotFound(f"no run in {db.path}; run the agent first")
    if run_id is None:
        return everything[0]
    for overview in everything:
        if overview.run.run_id == run_id:
            return overview
    raise NotFound(f"no run {run_id!r} in {db.path}; `runner.py runs` lists them")


# --- the portfolio and trades of a run ---


def marks(db: Database, run: Run) -> list[Mark]:
    """Every portfolio snapshot of the run, in order."""
    path = _held_path(split_symbol(run.symbol)[0])
    rows = db.read(MARKS, run_id=run.run_id, held_path=path)
    return [mark for row in rows if (mark := _mark(row[0], row[1], row[2], row[3])) is not None]


def trades(db: Database, run_id: str) -> list[Trade]:
    """Every fill of the run, in order."""
    with db.session() as session:
        return list(
            session.exec(select(Trade).where(Trade.run_id == run_id).order_by(col(Trade.id)))
        )


def trades_page(
    db: Database, run_id: str, limit: int | None = None, offset: int | None = None
) -> Page[Trade]:
    """Fills of the run, newest first."""
    limit, offset = bounded(limit, offset)
    with db.session() as session:
        total = session.exec(
            select(func.count()).select_from(Trade).where(Trade.run_id == run_id)
        ).one()
        items = session.exec(
            select(Trade)
            .where(Trade.run_id == run_id)
            .order_by(col(Trade.id).desc())
            .limit(limit)
            .offset(offset)
        ).all()
    return Page(list(items), total, limit, offset)


def trade_rows(fills: Sequence[Trade]) -> list[TradeRow]:
    return [
        TradeRow(t.side, t.qty, t.price, t.fee, t.fee_asset == split_symbol(t.symbol)[1], t.ts_utc)
        for t in fills
    ]


def trips(fills: Sequence[Trade]) -> list[RoundTrip]:
    return round_trips(trade_rows(fills))


# --- the console's view of the latest state (every cycle: compiled reads) ---

FIRST_MARK = (
    select_columns(*MARK_COLUMNS)
    .where(col(PortfolioSnapshot.run_id) == bindparam("run_id"))
    .order_by(col(PortfolioSnapshot.id))
    .limit(1)
)
LAST_MARK = (
    select_columns(*MARK_COLUMNS)
    .where(col(PortfolioSnapshot.run_id) == bindparam("run_id"))
    .order_by(col(PortfolioSnapshot.id).desc())
    .limit(1)
)


def first_mark(db: Database, run_id: str, base: str) -> Mark | None:
    return _one_mark(db.read(FIRST_MARK, run_id=run_id, held_path=_held_path(base)))


def last_mark(db: Database, run_id: str, base: str) -> Mark | None:
    return _one_mark(db.read(LAST_MARK, run_id=run_id, held_path=_held_path(base)))


def _one_mark(rows: list[tuple[Any, ...]]) -> Mark | None:
    return _mark(rows[0][0], rows[0][1], rows[0][2], rows[0][3]) if rows else None
