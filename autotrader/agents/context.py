"""What the agents' tools and callbacks can reach: long-lived dependencies and one cycle's state.

A CycleContext is created per cycle and passed to Runner.run as the run context; nothing
survives from one cycle to the next except through the database.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from autotrader.clock import Clock
from autotrader.config import Settings
from autotrader.db import AuditBuffer, Database
from autotrader.exchange.base import Venue
from autotrader.schemas import Plan, Proposal
from autotrader.tools.trade import TradeTool

Role = Literal["PLANNER", "TRADER", "JUDGE"]


@dataclass(frozen=True)
class Deps:
    """What every cycle of a run shares: settings, database, venue, trade tool, clock, and the
    run's identity (its memory scope is the run for a replay, the market for live trading)."""

    settings: Settings
    db: Database
    venue: Venue
    trade: TradeTool
    clock: Clock
    run_id: str = "adhoc"
    scope: str = "adhoc"


@dataclass
class CycleContext:
    deps: Deps
    trace_id: str
    now: datetime
    plan_id: str
    proposal_id: str
    price: Decimal
    plan: Plan | None = None
    proposal: Proposal | None = None
    tools_called: set[str] = field(default_factory=set)
    pre_trade: dict[str, Any] | None = None
    fallbacks: dict[Role, str] = field(default_factory=dict)
    model_calls: int = 0
    audit: AuditBuffer = field(default_factory=AuditBuffer)  # flushed by the orchestrator

    @property
    def settings(self) -> Settings:
        return self.deps.settings


# The cycle being run, for the model wrappers (the SDK does not hand models the run context).
current_cycle: ContextVar[CycleContext | None] = ContextVar("current_cycle", default=None)
