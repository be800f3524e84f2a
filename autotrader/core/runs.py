"""The run registry: who is running, where a replay resumes, and each cycle's row.

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

from sqlalchemy import Connection
from sqlalchemy.dialects.sqlite import insert
from sqlmodel import col, or_, select

from autotrader.config import Settings
from autotrader.db import AuditBuffer, Database, execute_write
from autotrader.db.models import Cycle, Run


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
    """Resume the unfinished run with this fingerprint, or register a new one."""
    print_ = fingerprint(settings, span, models)
    live = settings.resolved_feed == "live"
    # A replay resumes where it stopped or crashed; a live run adopts one that crashed (left
    # RUNNING, or FAILED by an error that escaped the loop). Either adopts a run that left a
    # cycle open, whatever its status, so that cycle is finished under its own run id.
    resumable = ["RUNNING", "FAILED"] if live else ["RUNNING", "STOPPED"]
    left_open = select(Cycle.run_id).where(Cycle.status == "OPEN")
    with db.session() as session:
        unfinished = session.exec(
            select(Run)
            .where(
                Run.fingerprint == print_,
                or_(col(Run.status).in_(resumable), col(Run.run_id).in_(left_open)),
            )
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
    """Where a resumed replay's clock stands: at its open cycle (decided, not finished), else
    after the last logged cycle (its time plus its wakeup), else at the run's start."""
    with db.session() as session:
        last = session.exec(
            select(Cycle).where(Cycle.run_id == run_id).order_by(col(Cycle.id).desc()).limit(1)
        ).first()
    if last is None:
        return start
    if last.status == "OPEN":
        return last.cycle_ts
    return last.cycle_ts + timedelta(seconds=last.wakeup_secs)


def open_cycles(db: Database, run_id: str) -> list[Cycle]:
    """The run's cycles whose decisions are committed but whose last rows are not, oldest first."""
    query = (
        select(Cycle).where(Cycle.run_id == run_id, Cycle.status == "OPEN").order_by(col(Cycle.id))
    )
    with db.session() as session:
        return list(session.exec(query).all())


def last_decided_candle(db: Database, run_id: str) -> datetime | None:
    """The candle the run's last decided cycle decided on (None before the first)."""
    query = (
        select(Cycle.candle_ts)
        .where(Cycle.run_id == run_id, col(Cycle.status).in_(("OK", "OPEN")))
        .where(col(Cycle.candle_ts).is_not(None))
        .order_by(col(Cycle.candle_ts).desc())
        .limit(1)
    )
    with db.session() as session:
        return session.exec(query).first()


def finish_run(db: Database, run_id: str, status: str, wall_now: datetime) -> None:
    with db.session() as session:
        run = session.get(Run, run_id)
        if run is not None:
            run.status, run.finished_at = status, wall_now
            session.add(run)


_UPSERT_CYCLE = insert(Cycle)
UPSERT_CYCLE = _UPSERT_CYCLE.on_conflict_do_update(
    index_elements=["trace_id"],
    set_={
        column.name: _UPSERT_CYCLE.excluded[column.name]
        for column in Cycle.__table__.columns  # type: ignore[attr-defined]
        if column.name not in ("id", "trace_id")
    },
)


def log_cycle(audit: AuditBuffer, row: Cycle) -> None:
    """Write the cycle's row with the buffer's commit: a new one, or its open row updated."""
    values = row.model_dump(exclude={"id"})

    def write(connection: Connection) -> None:
        execute_write(connection, UPSERT_CYCLE, values)

    audit.then(write)
