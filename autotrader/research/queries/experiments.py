"""The research loop's rows as the Research page and the report read them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, func
from sqlalchemy import select as select_columns
from sqlmodel import col, select

from autotrader.db import Database
from autotrader.db.models import Experiment, MemoryEntry


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
