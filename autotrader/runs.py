"""Runs and cycles: who is running, where a replay resumes, and what a run achieved.

A replay run is identified by a fingerprint of what it replays (file, symbol, timeframe, seed,
span, models); starting the same replay again resumes an unfinished run at its next wakeup. Its
memory (experiments, posteriors) and paper account belong to the run, so one replay can never
learn from another over the same prices. Live runs share one scope per market and mode.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import jsonschema
from sqlmodel import col, select

from autotrader.config import Settings
from autotrader.db import Database, Sink
from autotrader.db.models import Cycle, Decision, PortfolioSnapshot, Run, Trade
from autotrader.research.metrics import max_drawdown
from autotrader.schemas import seed_schema

SCHEMA_OF = {"PLANNER": "plan", "TRADER": "proposal", "JUDGE": "verdict"}


@dataclass(frozen=True)
class RunState:
    run_id: str
    scope: str
    paper_account: str | None
    resume_at: datetime | None  # replay: the next cycle's simulated time
    resumed: bool


def fingerprint(
    settings: Settings, span: tuple[datetime, datetime] | None, models: dict[str, str]
) -> str:
    if settings.resolved_feed == "live":
        return f"live:{settings.mode}:{settings.exchange_id}:{settings.symbol}"
    identity = {
        "replay": str(settings.resolved_replay_path.resolve()),
        "symbol": settings.symbol,
        "timeframe": settings.timeframe,
        "seed": settings.seed,
        "span": [moment.isoformat() for moment in span or ()],
        "models": models,
    }
    return (
        "replay:" + hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]
    )


def start_or_resume(
    db: Database,
    settings: Settings,
    *,
    provider: str,
    models: dict[str, str],
    span: tuple[datetime, datetime] | None,
    wall_now: datetime,
) -> RunState:
    """Resume the unfinished replay with this fingerprint, or register a new run."""
    print_ = fingerprint(settings, span, models)
    live = settings.resolved_feed == "live"
    with db.session() as session:
        if not live:
            unfinished = session.exec(
                select(Run)
                .where(Run.fingerprint == print_, col(Run.status).in_(["RUNNING", "STOPPED"]))
                .order_by(col(Run.started_at).desc())
            ).first()
            if unfinished is not None:
                unfinished.status = "RUNNING"
                session.add(unfinished)
                return RunState(
                    unfinished.run_id,
                    unfinished.scope,
                    unfinished.paper_account,
                    next_cycle_time(db, unfinished.run_id, unfinished.sim_start),
                    resumed=True,
                )
        run_id = "run_" + uuid.uuid4().hex[:12]
        scope = print_ if live else run_id
        paper = None
        if settings.mode == "paper":
            paper = f"paper-live:{settings.symbol}" if live else f"paper:{run_id}"
        session.add(
            Run(
                run_id=run_id,
                fingerprint=print_,
                started_at=wall_now,
                status="RUNNING",
                mode=settings.mode,
                feed=settings.resolved_feed,
                symbol=settings.symbol,
                timeframe=settings.timeframe,
                provider=provider,
                models_json=json.dumps(models),
                seed=settings.seed,
                scope=scope,
                paper_account=paper,
                sim_start=span[0] if span else None,
                sim_end=span[1] if span else None,
            )
        )
    return RunState(run_id, scope, paper, span[0] if span else None, resumed=False)


def next_cycle_time(db: Database, run_id: str, start: datetime | None) -> datetime | None:
    """After the last logged cycle: its time plus its wakeup (or the run's start if none)."""
    with db.session() as session:
        last = session.exec(
            select(Cycle).where(Cycle.run_id == run_id).order_by(col(Cycle.id).desc()).limit(1)
        ).first()
    if last is None:
        return start
    return last.cycle_ts + timedelta(seconds=last.wakeup_secs)


def finish_run(db: Database, run_id: str, status: str, wall_now: datetime) -> None:
    with db.session() as session:
        run = session.get(Run, run_id)
        if run is not None:
            run.status, run.finished_at = status, wall_now
            session.add(run)


def log_cycle(db: Sink, row: Cycle) -> None:
    db.append_values((Cycle, row.model_dump(exclude={"id"})))


@dataclass(frozen=True)
class RunSummary:
    run_id: str
    cycles: int
    error_cycles: int
    trades: int
    fees: Decimal
    start_equity: Decimal | None
    final_equity: Decimal | None
    total_return: float | None
    buy_and_hold: float | None
    max_drawdown: float
    decisions: int
    schema_valid: int
    guardrail_trips: int
    fallback_cycles: int
    model_calls_per_cycle: float
    mean_cycle_ms: float

    def as_dict(self) -> dict[str, Any]:
        return {key: (str(v) if isinstance(v, Decimal) else v) for key, v in self.__dict__.items()}


def quote_fee(trade: Trade) -> Decimal:
    """A trade's fee in the quote asset (Binance charges buys in the base asset)."""
    quote = trade.symbol.split("/")[-1]
    return trade.fee if trade.fee_asset in (quote, "") else trade.fee * trade.price


def summarize(db: Database, run_id: str) -> RunSummary:
    with db.session() as session:
        cycles = session.exec(select(Cycle).where(Cycle.run_id == run_id)).all()
        trades = session.exec(select(Trade).where(Trade.run_id == run_id)).all()
        snapshots = session.exec(
            select(PortfolioSnapshot)
            .where(PortfolioSnapshot.run_id == run_id)
            .order_by(col(PortfolioSnapshot.id))
        ).all()
        trace_ids = [c.trace_id for c in cycles]
        decisions = (
            session.exec(
                select(Decision.agent, Decision.payload_json).where(
                    col(Decision.trace_id).in_(trace_ids)
                )
            ).all()
            if trace_ids
            else []
        )
        validators = {
            agent: jsonschema.Draft7Validator(seed_schema(name))  # type: ignore[arg-type]
            for agent, name in SCHEMA_OF.items()
        }
        valid = sum(validators[agent].is_valid(json.loads(payload)) for agent, payload in decisions)
    equity = [float(s.equity) for s in snapshots if s.equity is not None]
    prices = [float(s.price) for s in snapshots if s.price is not None]
    start = snapshots[0].equity if snapshots else None
    final = snapshots[-1].equity if snapshots else None
    return RunSummary(
        run_id=run_id,
        cycles=len(cycles),
        error_cycles=sum(c.status == "ERROR" for c in cycles),
        trades=len(trades),
        fees=sum((quote_fee(t) for t in trades), Decimal(0)),
        start_equity=start,
        final_equity=final,
        total_return=float(final / start - 1) if start and final else None,
        buy_and_hold=prices[-1] / prices[0] - 1 if len(prices) > 1 else None,
        max_drawdown=max_drawdown(equity),
        decisions=len(decisions),
        schema_valid=valid,
        guardrail_trips=sum(c.guardrail is not None for c in cycles),
        fallback_cycles=sum(c.fallbacks > 0 for c in cycles),
        model_calls_per_cycle=sum(c.model_calls for c in cycles) / len(cycles) if cycles else 0.0,
        mean_cycle_ms=sum(c.duration_ms for c in cycles) / len(cycles) if cycles else 0.0,
    )
