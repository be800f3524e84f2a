"""Trace retention: traces (and their spans and inputs) older than a cutoff are deleted.

Age is the cycle time a trace was recorded for (replay time in a replay), so a replay keeps the
same window a live run would. Only the trace store is pruned: decisions, orders, trades,
portfolio, cycles, experiments and posteriors are the audit trail and are never touched.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, text

from autotrader.db import Database

_OLD = "coalesce(cycle_ts, started_at) < :cutoff"
_UNUSED_INPUTS = """DELETE FROM span_inputs WHERE hash NOT IN (
    SELECT value FROM traces, json_each(traces.input_hashes) WHERE input_hashes IS NOT NULL)"""


@dataclass(frozen=True)
class Pruned:
    traces: int
    spans: int  # rows of the pre-version-8 spans table
    inputs: int


def prune_traces(db: Database, before: datetime) -> Pruned:
    """Delete the traces recorded for cycles before `before`, in one transaction."""
    cutoff = before.isoformat()
    counts: list[int] = []

    def prune(connection: Connection) -> None:
        for statement in (
            f"DELETE FROM spans WHERE trace_id IN (SELECT trace_id FROM traces WHERE {_OLD})",
            f"DELETE FROM traces WHERE {_OLD}",
            _UNUSED_INPUTS,
        ):
            counts.append(connection.execute(text(statement), {"cutoff": cutoff}).rowcount)

    db.write((), (prune,))
    spans, traces, inputs = counts[-3:]
    return Pruned(traces=traces, spans=spans, inputs=inputs)


def newest_cycle(db: Database) -> datetime | None:
    """The newest cycle time the trace store holds: what `runner.py prune` counts age from."""
    with db.engine.connect() as connection:
        newest = connection.execute(
            text("SELECT max(coalesce(cycle_ts, started_at)) FROM traces")
        ).scalar()
    return None if newest is None else datetime.fromisoformat(newest)


class DailyPrune:
    """Prunes at most once per day of the clock it is given (the loop's)."""

    def __init__(self, db: Database, days: int) -> None:
        self._db, self._keep = db, timedelta(days=days)
        self._last: datetime | None = None

    def maybe(self, now: datetime) -> Pruned | None:
        if self._keep <= timedelta(0):  # 0: keep traces forever
            return None
        if self._last is not None and now - self._last < timedelta(days=1):
            return None
        self._last = now
        return prune_traces(self._db, now - self._keep)
