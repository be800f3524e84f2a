"""The research loop's tables: experiments and the running posterior sums of each arm.

read_posteriors reads one running aggregate row per arm, so its cost does not grow with the
number of experiments; apply_outcomes marks experiments measured and folds their rewards into
that aggregate inside the cycle's transaction, each experiment exactly once.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, bindparam, update
from sqlalchemy import select as select_columns
from sqlalchemy.dialects.sqlite import insert
from sqlmodel import col

from autotrader.db import Database, Sink, execute_rows, execute_write
from autotrader.db.models import ArmAggregate, Experiment
from autotrader.db.types import decimal_to_text
from autotrader.research.arms import ARM_PRESETS, family_of
from autotrader.research.posteriors import ArmStats, Posterior, posterior
from autotrader.tools.memory import note


@dataclass(frozen=True)
class NewExperiment:
    """What was tried, why, and at what price; the outcome is measured later."""

    id: str
    scope: str
    trace_id: str
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
    db.append_values((Experiment, row))
    summary = {
        key: (decimal_to_text(value) if isinstance(value, Decimal) else value)
        for key, value in fields.items()
        if not isinstance(value, datetime)
    }
    summary.update(params=params, entry_ts=experiment.entry_ts.isoformat())
    note(db, f"experiment:{experiment.id}", summary, experiment.entry_ts)


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


# Indexed on (scope, status, due_ts); it runs every cycle.
DUE = (
    select_columns(
        *(
            col(c)
            for c in (
                Experiment.id,
                Experiment.scope,
                Experiment.arm,
                Experiment.action,
                Experiment.exposure,
                Experiment.entry_ts,
                Experiment.entry_price,
                Experiment.due_ts,
            )
        )
    )
    .where(
        col(Experiment.scope) == bindparam("scope"),
        col(Experiment.status) == "OPEN",
        col(Experiment.due_ts) <= bindparam("now"),
    )
    .order_by(col(Experiment.due_ts))
    .limit(bindparam("limit"))
)


def due_experiments(
    db: Database, scope: str, now: datetime, limit: int = 100
) -> list[DueExperiment]:
    """OPEN experiments whose horizon has passed, oldest first."""
    return [DueExperiment(*row) for row in db.read(DUE, scope=scope, now=now, limit=limit)]


@dataclass(frozen=True)
class MeasuredOutcome:
    experiment_id: str
    scope: str
    arm: str
    exit_price: Decimal
    market_return: float
    reward: float
    excess_return: float
    exit_ts: datetime | None = None  # the exit candle's close
    note: str | None = None  # e.g. a feed gap the exit candle came after


@dataclass(frozen=True)
class Unmeasurable:
    """An experiment closed without an outcome (the feed has no candle to measure it by)."""

    experiment_id: str
    scope: str
    reason: str


ARMS_OF_SCOPE = select_columns(
    *(
        col(c)
        for c in (
            ArmAggregate.arm,
            ArmAggregate.weight,
            ArmAggregate.total,
            ArmAggregate.total_sq,
            ArmAggregate.count,
            ArmAggregate.last_ts,
        )
    )
).where(col(ArmAggregate.scope) == bindparam("scope"))
MARK_MEASURED = (
    update(Experiment)
    .where(col(Experiment.id) == bindparam("experiment_id"), col(Experiment.status) == "OPEN")
    .values(
        status="MEASURED",
        exit_price=bindparam("exit_price"),
        market_return=bindparam("market_return"),
        reward=bindparam("reward"),
        excess_return=bindparam("excess_return"),
        measured_ts=bindparam("measured_ts"),
        exit_ts=bindparam("exit_ts"),
        note=bindparam("note"),
    )
)
MARK_UNMEASURABLE = (
    update(Experiment)
    .where(col(Experiment.id) == bindparam("experiment_id"), col(Experiment.status) == "OPEN")
    .values(status="UNMEASURABLE", note=bindparam("note"), measured_ts=bindparam("measured_ts"))
)
_upsert = insert(ArmAggregate)
UPSERT_ARM = _upsert.on_conflict_do_update(
    index_elements=["scope", "arm"],
    set_={
        name: _upsert.excluded[name] for name in ("weight", "total", "total_sq", "count", "last_ts")
    },
)


def apply_outcomes(
    connection: Connection,
    outcomes: Sequence[MeasuredOutcome | Unmeasurable],
    *,
    now: datetime,
    half_life_secs: float,
) -> int:
    """Mark experiments MEASURED and fold each reward into its arm's running sums, inside the
    transaction the caller holds (a cycle's single commit); close the unmeasurable ones with
    their reason. An experiment already closed is skipped, so each counts exactly once."""
    if not outcomes:
        return 0
    aggregates: dict[tuple[str, str], ArmStats] = {}
    for scope in {o.scope for o in outcomes}:
        for arm, *sums in execute_rows(connection, ARMS_OF_SCOPE, scope=scope):
            aggregates[(scope, str(arm))] = ArmStats(*sums)
    touched: set[tuple[str, str]] = set()
    recorded = 0
    for o in outcomes:
        if isinstance(o, Unmeasurable):
            execute_write(
                connection,
                MARK_UNMEASURABLE,
                {"experiment_id": o.experiment_id, "note": o.reason, "measured_ts": now},
            )
            continue
        marked = execute_write(
            connection,
            MARK_MEASURED,
            {
                "experiment_id": o.experiment_id,
                "exit_price": o.exit_price,
                "market_return": o.market_return,
                "reward": o.reward,
                "excess_return": o.excess_return,
                "measured_ts": now,
                "exit_ts": o.exit_ts,
                "note": o.note,
            },
        )
        if marked != 1:
            continue  # measured before: each experiment counts once
        key = (o.scope, o.arm)
        aggregates[key] = aggregates.get(key, ArmStats()).add(o.reward, now, half_life_secs)
        touched.add(key)
        recorded += 1
    if touched:
        execute_write(
            connection,
            UPSERT_ARM,
            [
                {
                    "scope": scope,
                    "arm": arm,
                    "policy_id": family_of(arm),
                    "weight": aggregates[(scope, arm)].weight,
                    "total": aggregates[(scope, arm)].total,
                    "total_sq": aggregates[(scope, arm)].total_sq,
                    "count": aggregates[(scope, arm)].count,
                    "last_ts": now,
                }
                for scope, arm in sorted(touched)
            ],
        )
    return recorded


def read_posteriors(
    db: Database, scope: str, now: datetime, half_life_secs: float
) -> dict[str, Posterior]:
    """The posterior of every arm (the prior for arms with no evidence yet), aged to `now`."""
    stats = {arm: ArmStats(*sums) for arm, *sums in db.read(ARMS_OF_SCOPE, scope=scope)}
    arms = sorted(set(ARM_PRESETS) | set(stats))
    return {arm: posterior(stats.get(arm, ArmStats()).decay(now, half_life_secs)) for arm in arms}
