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

from sqlalchemy.dialects.sqlite import insert
from sqlmodel import col, select

from autotrader.db import Database, Sink
from autotrader.db.models import ArmAggregate, Experiment, MemoryEntry
from autotrader.db.types import decimal_to_text
from autotrader.research.arms import ARM_PRESETS, family_of
from autotrader.research.posteriors import ArmStats, Posterior, posterior


@dataclass(frozen=True)
class NewExperiment:
    """What was tried, why, and at what price; the outcome is measured later."""

    id: str
    scope: str
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
    exposure: float
    qty: Decimal
    executed: bool
    entry_ts: datetime
    entry_price: Decimal
    due_ts: datetime


def write_experiment(db: Sink, experiment: NewExperiment) -> Experiment:
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
    note_row = MemoryEntry(
        ts=experiment.entry_ts, key=f"experiment:{experiment.id}", value_json=json.dumps(note)
    )
    db.append_values(
        (Experiment, row.model_dump()), (MemoryEntry, note_row.model_dump(exclude={"id"}))
    )
    return row


def due_experiments(
    db: Database, scope: str, now: datetime, limit: int = 100
) -> Sequence[Experiment]:
    """OPEN experiments whose horizon has passed, oldest first (indexed on scope, status, due)."""
    query = (
        select(Experiment)
        .where(
            Experiment.scope == scope, Experiment.status == "OPEN", col(Experiment.due_ts) <= now
        )
        .order_by(col(Experiment.due_ts))
        .limit(limit)
    )
    with db.session() as session:
        return session.exec(query).all()


@dataclass(frozen=True)
class MeasuredOutcome:
    experiment_id: str
    scope: str
    arm: str
    exit_price: Decimal
    market_return: float
    reward: float
    excess_return: float


def record_outcomes(
    db: Database, outcomes: Sequence[MeasuredOutcome], *, now: datetime, half_life_secs: float
) -> int:
    """Mark experiments MEASURED and fold each reward into its arm's running sums, in one
    transaction. An experiment already measured is skipped, so each counts exactly once."""
    if not outcomes:
        return 0
    aggregates: dict[tuple[str, str], ArmStats] = {}
    experiments, posteriors = Experiment.__table__, ArmAggregate.__table__  # type: ignore[attr-defined]
    recorded = 0
    with db.engine.begin() as connection:
        for scope in {o.scope for o in outcomes}:
            rows = connection.execute(select(posteriors).where(posteriors.c.scope == scope))
            for row in rows.mappings():
                aggregates[(scope, row["arm"])] = ArmStats(
                    row["weight"], row["total"], row["total_sq"], row["count"], row["last_ts"]
                )
        touched: set[tuple[str, str]] = set()
        for outcome in outcomes:
            marked = connection.execute(
                experiments.update()
                .where(experiments.c.id == outcome.experiment_id, experiments.c.status == "OPEN")
                .values(
                    status="MEASURED",
                    exit_price=outcome.exit_price,
                    market_return=outcome.market_return,
                    reward=outcome.reward,
                    excess_return=outcome.excess_return,
                    measured_ts=now,
                )
            )
            if marked.rowcount != 1:
                continue
            key = (outcome.scope, outcome.arm)
            aggregates[key] = aggregates.get(key, ArmStats()).add(
                outcome.reward, now, half_life_secs
            )
            touched.add(key)
            recorded += 1
        for scope, arm in touched:
            stats = aggregates[(scope, arm)]
            values = {
                "weight": stats.weight,
                "total": stats.total,
                "total_sq": stats.total_sq,
                "count": stats.count,
                "last_ts": now,
            }
            connection.execute(
                insert(posteriors)
                .values(scope=scope, arm=arm, policy_id=family_of(arm), **values)
                .on_conflict_do_update(index_elements=["scope", "arm"], set_=values)
            )
    return recorded


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
    """One experiment's outcome (see record_outcomes); False if it was already measured."""
    with db.session() as session:
        found = session.exec(
            select(Experiment.scope, Experiment.arm).where(Experiment.id == experiment_id)
        ).first()
    if found is None:
        return False
    outcome = MeasuredOutcome(
        experiment_id, found[0], found[1], exit_price, market_return, reward, excess_return
    )
    return record_outcomes(db, [outcome], now=now, half_life_secs=half_life_secs) == 1


def read_posteriors(
    db: Database, scope: str, now: datetime, half_life_secs: float
) -> dict[str, Posterior]:
    """The posterior of every arm (the prior for arms with no evidence yet), aged to `now`."""
    table = ArmAggregate.__table__  # type: ignore[attr-defined]
    with db.engine.connect() as connection:  # a Core read: this runs every cycle
        found = connection.execute(table.select().where(table.c.scope == scope)).mappings()
        stats = {
            row["arm"]: ArmStats(
                row["weight"], row["total"], row["total_sq"], row["count"], row["last_ts"]
            )
            for row in found
        }
    arms = sorted(set(ARM_PRESETS) | set(stats))
    return {arm: posterior(stats.get(arm, ArmStats()).decay(now, half_life_secs)) for arm in arms}


def recent_experiments(db: Database, scope: str, limit: int = 10) -> Sequence[Experiment]:
    """The newest experiments of a scope, newest first."""
    query = (
        select(Experiment)
        .where(Experiment.scope == scope)
        .order_by(col(Experiment.created_ts).desc())
        .limit(limit)
    )
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
