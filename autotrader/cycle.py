"""What every cycle of a run shares (`Deps`), and one cycle's state (`CycleContext`).

`open_cycle` is the one way a cycle starts: its trace id is deterministic per (run, cycle time),
so a cycle re-run after a crash keeps its trace id, hence its decisions' links and its orders'
idempotency keys. The context is passed to Runner.run as the run context; nothing survives from
one cycle to the next except through the database.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from autotrader.clock import Clock
from autotrader.config import Settings
from autotrader.db import AuditBuffer, Database
from autotrader.exchange.base import AccountState, Venue
from autotrader.research.lab import ResearchView
from autotrader.schemas import Plan, Proposal, Role
from autotrader.tools.portfolio import LedgerBooks
from autotrader.tools.trade import TradeTool


@dataclass(frozen=True)
class Deps:
    """What every cycle of a run shares: settings, database, venue, trade tool, the position's
    books, clock, and the run's identity (its memory scope is the run for a replay, the market
    for live trading)."""

    settings: Settings
    db: Database
    venue: Venue
    trade: TradeTool
    books: LedgerBooks
    clock: Clock
    run_id: str
    scope: str


@dataclass(frozen=True)
class ModelCall:
    """One request to a role's model: what it carried and what it cost."""

    role: Role
    model: str
    attempt: int  # 1, then the re-asks
    chars: int  # instructions, schemas and input sent
    latency_ms: float
    input_tokens: int  # as the provider reports them (0 for the offline model)
    output_tokens: int


@dataclass
class CycleContext:
    deps: Deps
    trace_id: str
    now: datetime
    price: Decimal
    research: ResearchView
    plan: Plan | None = None
    proposal: Proposal | None = None
    tools_called: set[str] = field(default_factory=set)
    checked: set[tuple[str, Decimal]] = field(default_factory=set)  # pre_trade_check (side, qty)
    fallbacks: dict[Role, str] = field(default_factory=dict)
    ruled: set[Role] = field(default_factory=set)  # answered by a rule, no model call
    model_calls: int = 0
    calls: list[ModelCall] = field(default_factory=list)
    audit: AuditBuffer = field(default_factory=AuditBuffer)  # flushed by the orchestrator
    _account: AccountState | None = field(default=None, repr=False)

    @property
    def settings(self) -> Settings:
        return self.deps.settings

    def account(self) -> AccountState:
        """The account as the venue reported it, read once a cycle (on a live venue each read
        is a signed request): nothing the cycle does before its order changes it, and the trade
        tool reads it afresh to check and place one."""
        if self._account is None:
            self._account = self.deps.venue.account()
        return self._account


def trace_id_for(run_id: str, moment: datetime) -> str:
    return "trace_" + hashlib.sha256(f"{run_id}|{moment.isoformat()}".encode()).hexdigest()[:32]


def open_cycle(
    deps: Deps, now: datetime, research: ResearchView, audit: AuditBuffer | None = None
) -> CycleContext:
    """A new cycle at `now`, priced at the market's last close (or ticker); its writes go to
    `audit` (a fresh buffer if none is given)."""
    price = deps.venue.market.last_price()
    trace_id = trace_id_for(deps.run_id, now)
    return CycleContext(deps, trace_id, now, price, research, audit=audit or AuditBuffer())
