"""The agent's memory: experiments it ran, posteriors over arms, and keyed notes.

read_posteriors reads one running aggregate row per arm, so its cost does not grow with the
number of experiments; record_outcomes measures experiments and folds their rewards into that
aggregate in one transaction, exactly once.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection
from sqlmodel import col, select

from autotrader.db import Database, Sink
from autotrader.db.models import ArmAggregate, Experiment, MemoryEntry
from autotrader.db.types import decimal_to_text, utc_iso
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


def write_experiment(db: Sink, experiment: NewExperiment) -> None:
    """Store an experiment (OPEN) and note it in the memory log under `experiment:<id>`."""
    fields = asdict(experiment)
    params = fields.pop("params")
    row = {
        **fields,
        "params_json": json.dumps(params),
        "status": "OPEN",
        "created_ts": experiment.entry_ts,
    }
    note = {
        key: (decimal_to_text(value) if isinstance(value, Decimal) else value)
        for key, value in fields.items()
        if not isinstance(value, datetime)
    }
    note.update(params=params, entry_ts=experiment.entry_ts.isoformat())
    db.append_values(
        (Experiment, row),
        (
            MemoryEntry,
            {
                "ts": experiment.entry_ts,
                "key": f"experiment:{experiment.id}",
                "value_json": json.dumps(note),
            },
        ),
    )


@dataclass(frozen=True)
class DueExperiment:
    id: str
    scope: str
    arm: str
    action: str
    exposure: float
    entry_ts: datetime
    entry_price: Decimal
    due_ts: datetime


_DUE = (
    "SELECT id, scope, arm, action, exposure, entry_ts, entry_price, due_ts FROM experiments "
    "WHERE scope = ? AND status = 'OPEN' AND due_ts <= ? ORDER BY due_ts LIMIT ?"
)


def due_experiments(
    db: Database, scope: str, now: datetime, limit: int = 100
) -> list[DueExperiment]:
    """OPEN experiments whose horizon has passed, oldest first (indexed on scope, status, due).
    A plain read: it runs every cycle."""
    return [
        DueExperiment(
            id_,
            scope_,
            arm,
            action,
            exposure,
            datetime.fromisoformat(entry_ts),
            Decimal(entry_price),
            datetime.fromisoformat(due_ts),
        )
        for id_, scope_, arm, action, exposure, entry_ts, entry_price, due_ts in db.read(
            _DUE, (scope, utc_iso(now), limit)
        )
    ]


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
    with db.engine.begin() as connection:
        return apply_outcomes(connection, outcomes, now=now, half_life_secs=half_life_secs)


_ARMS_OF_SCOPE = (
    "SELECT arm, weight, total, total_sq, count, last_ts FROM posteriors WHERE scope = ?"
)
_MARK_MEASURED = (
    "UPDATE experiments SET status = 'MEASURED', exit_price = ?, market_return = ?, reward = ?, "
    "excess_return = ?, measured_ts = ? WHERE id = ? AND status = 'OPEN'"
)
_UPSERT_ARM = (
    "INSERT INTO posteriors (scope, arm, policy_id, weight, total, total_sq, count, last_ts) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (scope, arm) DO UPDATE SET "
    "weight = excluded.weight, total = excluded.total, total_sq = excluded.total_sq, "
    "count = excluded.count, last_ts = excluded.last_ts"
)


def apply_outcomes(
    connection: Connection,
    outcomes: Sequence[MeasuredOutcome],
    *,
    now: datetime,
    half_life_secs: float,
) -> int:
    """record_outcomes inside a transaction the caller holds (a cycle's single commit).
    Plain SQL on the DBAPI cursor: this runs every cycle, on a handful of rows."""
    if not outcomes:
        return 0
    cursor = connection.connection.cursor()
    stamp = utc_iso(now)
    aggregates: dict[tuple[str, str], ArmStats] = {}
    for scope in {o.scope for o in outcomes}:
        for arm, weight, total, total_sq, count, last_ts in cursor.execute(
            _ARMS_OF_SCOPE, (scope,)
        ):
            aggregates[(scope, arm)] = ArmStats(
                weight, total, total_sq, count, datetime.fromisoformat(last_ts)
            )
    touched: set[tuple[str, str]] = set()
    recorded = 0
    for o in outcomes:
        cursor.execute(
            _MARK_MEASURED,
            (
                decimal_to_text(o.exit_price),
                o.market_return,
                o.reward,
                o.excess_return,
                stamp,
                o.experiment_id,
            ),
        )
        if cursor.rowcount != 1:
            continue  # measured before: each experiment counts once
        key = (o.scope, o.arm)
        aggregates[key] = aggregates.get(key, ArmStats()).add(o.reward, now, half_life_secs)
        touched.add(key)
        recorded += 1
    for scope, arm in touched:
        stats = aggregates[(scope, arm)]
        cursor.execute(
            _UPSERT_ARM,
            (
                scope,
                arm,
                family_of(arm),
                stats.weight,
                stats.total,
                stats.total_sq,
                stats.count,
                stamp,
            ),
        )
    cursor.close()
    return recorded


def read_posteriors(
    db: Database, scope: str, now: datetime, half_life_secs: float
) -> dict[str, Posterior]:
    """The posterior of every arm (the prior for arms with no evidence yet), aged to `now`."""
    stats = {
        arm: ArmStats(weight, total, total_sq, count, datetime.fromisoformat(last_ts))
        for arm, weight, total, total_sq, count, last_ts in db.read(_ARMS_OF_SCOPE, (scope,))
    }  # a plain read: this runs every cycle
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
