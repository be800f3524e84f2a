"""A run's cycles with their decisions, fills and experiments; the filter the dashboard and
`runner.py cycles` share."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from sqlalchemy import ColumnElement, func
from sqlmodel import col, select

from autotrader.db import Database
from autotrader.db.models import Cycle, Decision, Experiment, Trade
from autotrader.errors import ConfigError
from autotrader.research.arms import ARM_PRESETS
from autotrader.research.queries.common import Page, bounded

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

    @classmethod
    def from_query(cls, params: Mapping[str, str]) -> CycleFilter:
        """From a request's query parameters, the others (run, page, limit) left aside."""
        return cls.of({k: v for k, v in params.items() if k in CHOICES or k in FLAGS})

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
