"""The one read layer over the audit trail, shared by the dashboard, `report` and the inspection
commands: runs, cycles with their decisions, fills and experiments, portfolio marks, trades,
traces. Pure reads (it never writes); every list it returns whole is one run's, every other is a
bounded page. A run, trace or value that is not there raises NotFound (a ConfigError: one line).
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, String, bindparam, case, func
from sqlalchemy import select as select_columns
from sqlmodel import col, select

from autotrader.config import split_symbol
from autotrader.db import Database
from autotrader.db.models import (
    Cycle,
    Decision,
    Experiment,
    MemoryEntry,
    PortfolioSnapshot,
    Run,
    SpanRecord,
    TraceRecord,
    Trade,
)
from autotrader.errors import ConfigError
from autotrader.research.arms import ARM_PRESETS
from autotrader.research.metrics import Mark, RoundTrip, TradeRow, round_trips

T = TypeVar("T")
DEFAULT_LIMIT = 50
MAX_LIMIT = 500
SHORT_TRACE = 8  # hex digits of a trace id shown in narrow places; any unique prefix resolves


class NotFound(ConfigError):
    """The run, trace or page asked for is not in this database."""


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


def bounded(limit: int | None, offset: int | None) -> tuple[int, int]:
    """A page's limit within 1..MAX_LIMIT and a non-negative offset."""
    return max(1, min(MAX_LIMIT, limit or DEFAULT_LIMIT)), max(0, offset or 0)


def short_trace(trace_id: str) -> str:
    return trace_id.removeprefix("trace_")[:SHORT_TRACE]


# --- runs ---


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


# --- cycles ---

CHOICES: dict[str, tuple[str, ...]] = {
    "action": ("BUY", "SELL", "HOLD"),
    "verdict": ("APPROVE", "REVISE", "REJECT"),
    "mode": ("TRADE", "OBSERVE"),
    "status": ("OK", "ERROR", "OPEN"),
    "arm": tuple(ARM_PRESETS),
}
FLAGS = ("executed", "fallback", "explore", "guardrail")
YES, NO = ("yes", "true", "1", "y"), ("no", "false", "0", "n")


@dataclass(frozen=True)
class CycleFilter:
    """Which cycles to show; each field None means any."""

    action: str | None = None
    verdict: str | None = None
    mode: str | None = None
    status: str | None = None
    arm: str | None = None
    executed: bool | None = None
    fallback: bool | None = None
    explore: bool | None = None
    guardrail: bool | None = None

    @classmethod
    def parse(cls, terms: Sequence[str]) -> CycleFilter:
        """From terms like 'action=BUY', 'executed', 'fallback=no' (several per term when
        comma-separated): what `--filter` takes."""
        given: dict[str, str] = {}
        for term in (t.strip() for text in terms for t in text.split(",")):
            if term:
                key, _, value = term.partition("=")
                given[key.strip().lower()] = value.strip() or "yes"
        return cls.of(given)

    @classmethod
    def of(cls, given: Mapping[str, str]) -> CycleFilter:
        """From key -> value (the dashboard's query parameters); empty values mean any."""
        values: dict[str, Any] = {}
        for key, raw in given.items():
            if not raw:
                continue
            if key in CHOICES:
                allowed = CHOICES[key]
                match = next((a for a in allowed if a.lower() == raw.lower()), None)
                if match is None:
                    raise ConfigError(f"filter {key}={raw!r}: use one of {', '.join(allowed)}")
                values[key] = match
            elif key in FLAGS:
                if raw.lower() not in YES + NO:
                    raise ConfigError(f"filter {key}={raw!r}: use {key}=yes or {key}=no")
                values[key] = raw.lower() in YES
            else:
                names = ", ".join([*CHOICES, *FLAGS])
                raise ConfigError(f"unknown filter {key!r}: filter on one of {names}")
        return cls(**values)

    def as_params(self) -> dict[str, str]:
        """The filter as query parameters (links keep it)."""
        params: dict[str, str] = {}
        for item in fields(self):
            value = getattr(self, item.name)
            if value is not None:
                params[item.name] = ("yes" if value else "no") if isinstance(value, bool) else value
        return params

    def conditions(self) -> list[ColumnElement[bool]]:
        where: list[ColumnElement[bool]] = []
        for name, column in (
            ("action", Cycle.action),
            ("verdict", Cycle.verdict),
            ("mode", Cycle.plan_mode),
            ("status", Cycle.status),
            ("arm", Cycle.arm),
        ):
            if (value := getattr(self, name)) is not None:
                where.append(col(column) == value)
        if self.executed is not None:
            where.append(col(Cycle.executed) == self.executed)
        if self.explore is not None:
            where.append(col(Cycle.explore) == self.explore)
        if self.fallback is not None:
            where.append(col(Cycle.fallbacks) > 0 if self.fallback else col(Cycle.fallbacks) == 0)
        if self.guardrail is not None:
            guard = col(Cycle.guardrail)
            where.append(guard.is_not(None) if self.guardrail else guard.is_(None))
        return where


@dataclass(frozen=True)
class AgentDecision:
    """One stored model output (or its logged fallback) of a cycle."""

    agent: str
    model: str | None
    payload: dict[str, Any]
    fallback_reason: str | None
    decision_id: int | None


@dataclass(frozen=True)
class CycleDetail:
    """A cycle as the cycles page shows it: its row, the Plan, Proposal and Verdict, the fills
    and the experiment it started."""

    cycle: Cycle
    decisions: dict[str, AgentDecision] = field(default_factory=dict)
    fills: list[Trade] = field(default_factory=list)
    experiment: Experiment | None = None

    @property
    def fallback_reasons(self) -> list[tuple[str, str]]:
        return [
            (agent, d.fallback_reason)
            for agent, d in self.decisions.items()
            if d.fallback_reason is not None
        ]


def cycles_page(
    db: Database,
    run_id: str,
    where: CycleFilter | None = None,
    limit: int | None = None,
    offset: int | None = None,
    *,
    newest_first: bool = True,
) -> Page[CycleDetail]:
    """The run's cycles matching the filter, a page at a time, with their details."""
    limit, offset = bounded(limit, offset)
    conditions = [col(Cycle.run_id) == run_id, *(where or CycleFilter()).conditions()]
    order = col(Cycle.id).desc() if newest_first else col(Cycle.id)
    with db.session() as session:
        total = session.exec(select(func.count()).select_from(Cycle).where(*conditions)).one()
        rows = session.exec(
            select(Cycle).where(*conditions).order_by(order).limit(limit).offset(offset)
        ).all()
    return Page(details(db, rows), total, limit, offset)


def last_cycles(
    db: Database, run_id: str, count: int, where: CycleFilter | None = None
) -> Page[CycleDetail]:
    """The last `count` matching cycles, oldest first (as a console shows them)."""
    page = cycles_page(db, run_id, where, count, 0)
    return Page(page.items[::-1], page.total, page.limit, page.offset)


def details(db: Database, rows: Sequence[Cycle]) -> list[CycleDetail]:
    """The decisions, fills and experiment of each cycle, in three reads for the lot."""
    ids = [row.trace_id for row in rows]
    if not ids:
        return []
    decided: dict[str, dict[str, AgentDecision]] = defaultdict(dict)
    fills: dict[str, list[Trade]] = defaultdict(list)
    with db.session() as session:
        for d in session.exec(
            select(Decision).where(col(Decision.trace_id).in_(ids)).order_by(col(Decision.id))
        ):
            decided[d.trace_id][d.agent] = _decision(d)
        for t in session.exec(
            select(Trade).where(col(Trade.trace_id).in_(ids)).order_by(col(Trade.id))
        ):
            fills[str(t.trace_id)].append(t)
        experiments = {
            e.trace_id: e
            for e in session.exec(select(Experiment).where(col(Experiment.trace_id).in_(ids)))
        }
    return [
        CycleDetail(row, decided[row.trace_id], fills[row.trace_id], experiments.get(row.trace_id))
        for row in rows
    ]


def _decision(row: Decision) -> AgentDecision:
    return AgentDecision(
        row.agent, row.model, json.loads(row.payload_json), row.fallback_reason, row.id
    )


def decisions(db: Database, trace_id: str) -> list[AgentDecision]:
    """A cycle's decisions in the order they were made (PLANNER, TRADER, JUDGE)."""
    with db.session() as session:
        rows = session.exec(
            select(Decision).where(Decision.trace_id == trace_id).order_by(col(Decision.id))
        ).all()
    return [_decision(row) for row in rows]


def cycle_of(db: Database, trace_id: str) -> CycleDetail | None:
    with db.session() as session:
        row = session.exec(select(Cycle).where(Cycle.trace_id == trace_id)).first()
    return None if row is None else details(db, [row])[0]


# --- traces ---

TRACE_TEXT = re.compile(r"^(trace_)?([0-9a-f]{4,32})$")


def resolve_trace(db: Database, text: str) -> str:
    """The full trace id for a full id or a unique prefix of at least 4 hex digits (with or
    without 'trace_'): what the console and the cycles table show."""
    found = TRACE_TEXT.match(text.strip().lower())
    if found is None:
        raise NotFound(
            f"no trace {text!r} in {db.path}: a trace id is trace_ and hex digits, or a unique "
            "prefix of them (e.g. 1a2b3c4d); `runner.py cycles` lists them"
        )
    pattern = f"trace_{found.group(2)}*"  # GLOB: case-sensitive, uses the primary key
    with db.session() as session:
        ids = session.exec(
            select(TraceRecord.trace_id)
            .where(col(TraceRecord.trace_id).op("GLOB")(pattern))
            .limit(2)
        ).all()
    if not ids:
        raise NotFound(f"no trace {text!r} in {db.path}; `runner.py cycles` lists trace ids")
    if len(ids) > 1:
        raise NotFound(f"trace {text!r} is ambiguous in {db.path}; give more of its digits")
    return ids[0]


@dataclass(frozen=True)
class SpanNode:
    """A span in tree order: its depth, its exported data, and its timing from the trace start."""

    span: SpanRecord
    depth: int
    data: dict[str, Any]
    offset_ms: float | None
    duration_ms: float | None


@dataclass(frozen=True)
class TraceView:
    trace: TraceRecord
    nodes: list[SpanNode]
    duration_ms: float | None


MAX_SPANS = 2000  # a cycle's trace is bounded anyway (max_turns); a page never grows past this


def _ms(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds() * 1000


def trace_view(db: Database, trace_id: str) -> TraceView:
    """One stored trace's spans as a tree (parents before children, siblings by start time)."""
    with db.session() as session:
        trace = session.get(TraceRecord, trace_id)
        spans = session.exec(
            select(SpanRecord)
            .where(SpanRecord.trace_id == trace_id)
            .order_by(col(SpanRecord.started_at))
            .limit(MAX_SPANS)
        ).all()
    if trace is None:
        raise NotFound(f"no trace {trace_id!r} in {db.path}; `runner.py cycles` lists trace ids")
    known = {s.span_id for s in spans}
    children: dict[str | None, list[SpanRecord]] = defaultdict(list)
    for span in spans:  # a span whose parent is missing hangs from the root
        children[span.parent_id if span.parent_id in known else None].append(span)
    nodes: list[SpanNode] = []

    def walk(parent: str | None, depth: int) -> None:
        for span in children.get(parent, []):
            nodes.append(
                SpanNode(
                    span,
                    depth,
                    json.loads(span.data_json),
                    _ms(trace.started_at, span.started_at),
                    _ms(span.started_at, span.ended_at),
                )
            )
            walk(span.span_id, depth + 1)

    walk(None, 0)
    return TraceView(trace, nodes, _ms(trace.started_at, trace.ended_at))


# --- research ---


@dataclass(frozen=True)
class ArmCounts:
    arm: str
    experiments: int
    explored: int
    measured: int
    mean_outcome: float | None


def arm_counts(db: Database, scope: str) -> dict[str, ArmCounts]:
    """Per arm: experiments started, how many explored, measured, and their mean outcome."""
    with db.session() as session:
        rows = session.execute(
            select_columns(
                col(Experiment.arm),
                func.count(),
                func.sum(case((col(Experiment.explore), 1), else_=0)),
                func.count(col(Experiment.reward)),
                func.avg(col(Experiment.reward)),
            )
            .where(col(Experiment.scope) == scope)
            .group_by(col(Experiment.arm))
        ).all()
    return {
        arm: ArmCounts(arm, total, int(explored or 0), measured, mean)
        for arm, total, explored, measured, mean in rows
    }


def measured(db: Database, scope: str) -> list[tuple[str, float, datetime]]:
    """(arm, reward, measured at) of every measured experiment of the scope, in time order."""
    with db.session() as session:
        rows = session.exec(
            select(Experiment.arm, Experiment.reward, Experiment.measured_ts)
            .where(Experiment.scope == scope, col(Experiment.reward).is_not(None))
            .order_by(col(Experiment.measured_ts))
        ).all()
    return [(arm, reward, ts) for arm, reward, ts in rows if reward is not None and ts]


def experiment_count(db: Database, scope: str) -> tuple[int, int]:
    """(experiments, measured) of the scope."""
    counts = arm_counts(db, scope).values()
    return sum(c.experiments for c in counts), sum(c.measured for c in counts)


def notes(db: Database, key: str) -> list[tuple[datetime, Any]]:
    """Every version of a memory key, oldest first (the weekly evaluations, for one)."""
    with db.session() as session:
        rows = session.exec(
            select(MemoryEntry.ts_utc, MemoryEntry.value_json)
            .where(MemoryEntry.key == key)
            .order_by(col(MemoryEntry.id))
        ).all()
    return [(ts, json.loads(value)) for ts, value in rows]


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
