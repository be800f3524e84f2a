"""The agent's memory: experiments it ran, posteriors over arms, and keyed notes.

read_posteriors reads one running aggregate row per arm, so its cost does not grow with the
number of experiments; record_outcome measures an experiment and folds its reward into that
aggregate in one transaction, exactly once.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import update
from sqlmodel import col, select

from autotrader.db import Database
from autotrader.db.models import ArmAggregate, Experiment, MemoryEntry
from autotrader.db.types import decimal_to_text
from autotrader.research.arms import ARM_PRESETS, family_of
from autotrader.research.posteriors import ArmStats, Posterior, posterior


@dataclass(frozen=True)
class NewExperiment:
    """What was tried, why, and at what price; the outcome is measured later."""

    id: str
    trace_id: str
    plan_id: str | None
    proposal_id: str | None
    policy_id: str
    arm: str
    params: dict[str, Any]
    hypothesis: str
    confidence: float
    explore: bool
    action: str
    qty: Decimal
    executed: bool
    entry_ts: datetime
    entry_price: Decimal
    due_ts: datetime


def write_experiment(db: Database, experiment: NewExperiment) -> Experiment:
    """Store an experiment (OPEN) and note it in the memory log under `experiment:<id>`."""
    fields = asdict(experiment)
    params = fields.pop("params")
    row = Experiment(
        **fields, params_json=json.dumps(params), status="OPEN", created_ts=experiment.entry_ts
    )
    note = {
        key: (decimal_to_text(value) if isinstance(value, Decimal) else value)
        for key, value in asdict(experiment).items()
        if not isinstance(value, datetime)
    }
    note["entry_ts"] = experiment.entry_ts.isoformat()
    with db.session() as session:
        session.add(row)
        session.add(
            MemoryEntry(
                ts=experiment.entry_ts,
                key=f"experiment:{experiment.id}",
                value_json=json.dumps(note),
            )
        )
    return row


def due_experiments(db: Database, now: datetime, limit: int = 100) -> Sequence[Experiment]:
    """OPEN experiments whose horizon has passed, oldest first (indexed on status, due_ts)."""
    query = (
        select(Experiment)
        .where(Experiment.status == "OPEN", col(Experiment.due_ts) <= now)
        .order_by(col(Experiment.due_ts))
        .limit(limit)
    )
    with db.session() as session:
        return session.exec(query).all()


def record_outcome(
    db: Database,
    experiment_id: str,
    *,
    exit_price: Decimal,
    market_return: float,
    reward: float,
    excess_return: float,
    now: datetime,
    half_life_secs: float,
) -> bool:
    """Mark an experiment MEASURED and add its reward to its arm; False if already measured."""
    with db.session() as session:
        marked = session.execute(
            update(Experiment)
            .where(col(Experiment.id) == experiment_id, col(Experiment.status) == "OPEN")
            .values(
                status="MEASURED",
                exit_price=exit_price,
                market_return=market_return,
                reward=reward,
                excess_return=excess_return,
                measured_ts=now,
            )
        )
        if marked.rowcount != 1:  # type: ignore[attr-defined]
            return False
        arm = session.exec(select(Experiment.arm).where(Experiment.id == experiment_id)).one()
        aggregate = session.get(ArmAggregate, arm)
        stats = _stats(aggregate).add(reward, now, half_life_secs)
        if aggregate is None:
            aggregate = ArmAggregate(
                arm=arm,
                policy_id=family_of(arm),
                weight=0.0,
                total=0.0,
                total_sq=0.0,
                count=0,
                last_ts=now,
            )
        aggregate.weight, aggregate.total, aggregate.total_sq = (
            stats.weight,
            stats.total,
            stats.total_sq,
        )
        aggregate.count, aggregate.last_ts = stats.count, now
        session.add(aggregate)
    return True


def read_posteriors(db: Database, now: datetime, half_life_secs: float) -> dict[str, Posterior]:
    """The posterior of every arm (the prior for arms with no evidence yet), aged to `now`."""
    with db.session() as session:
        rows = {row.arm: row for row in session.exec(select(ArmAggregate)).all()}
    arms = sorted(set(ARM_PRESETS) | set(rows))
    return {arm: posterior(_stats(rows.get(arm)).decay(now, half_life_secs)) for arm in arms}


def recent_experiments(db: Database, limit: int = 10) -> Sequence[Experiment]:
    """The newest experiments, newest first."""
    query = select(Experiment).order_by(col(Experiment.created_ts).desc()).limit(limit)
    with db.session() as session:
        return session.exec(query).all()


def remember(db: Database, key: str, value: Any, ts: datetime) -> None:
    """Append a note; recall(key) returns the newest one."""
    with db.session() as session:
        session.add(MemoryEntry(ts=ts, key=key, value_json=json.dumps(value)))


def recall(db: Database, key: str) -> Any | None:
    query = (
        select(MemoryEntry.value_json)
        .where(MemoryEntry.key == key)
        .order_by(col(MemoryEntry.id).desc())
        .limit(1)
    )
    with db.session() as session:
        found = session.exec(query).first()
    return None if found is None else json.loads(found)


def _stats(row: ArmAggregate | None) -> ArmStats:
    if row is None:
        return ArmStats()
    return ArmStats(row.weight, row.total, row.total_sq, row.count, row.last_ts)
