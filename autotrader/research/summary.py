"""What a run achieved, from its own rows: cycles, trades and fees, equity against buy & hold,
drawdown, and how many stored model outputs are valid against the seed's schemas."""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal

from sqlmodel import col, select

from autotrader.db import Database
from autotrader.db.models import Cycle, Decision, PortfolioSnapshot, Trade
from autotrader.research.metrics import max_drawdown
from autotrader.schemas import SchemaName, seed_validator
from autotrader.tools.ledger import quote_fee

SCHEMA_OF: dict[str, SchemaName] = {"PLANNER": "plan", "TRADER": "proposal", "JUDGE": "verdict"}


@dataclass(frozen=True)
class RunSummary:
    run_id: str
    cycles: int
    error_cycles: int
    trades: int
    fees: Decimal
    start_equity: Decimal | None
    final_equity: Decimal | None
    total_return: float | None
    buy_and_hold: float | None
    max_drawdown: float
    decisions: int
    schema_valid: int
    guardrail_trips: int
    fallback_cycles: int
    model_calls_per_cycle: float
    mean_cycle_ms: float


def summarize(db: Database, run_id: str) -> RunSummary:
    with db.session() as session:
        cycles = session.exec(select(Cycle).where(Cycle.run_id == run_id)).all()
        trades = session.exec(select(Trade).where(Trade.run_id == run_id)).all()
        snapshots = session.exec(
            select(PortfolioSnapshot)
            .where(PortfolioSnapshot.run_id == run_id)
            .order_by(col(PortfolioSnapshot.id))
        ).all()
        trace_ids = [c.trace_id for c in cycles]
        decisions = (
            session.exec(
                select(Decision.agent, Decision.payload_json).where(
                    col(Decision.trace_id).in_(trace_ids)
                )
            ).all()
            if trace_ids
            else []
        )
        validators = {agent: seed_validator(name) for agent, name in SCHEMA_OF.items()}
        valid = sum(validators[agent].is_valid(json.loads(payload)) for agent, payload in decisions)
    equity = [float(s.equity) for s in snapshots if s.equity is not None]
    prices = [float(s.price) for s in snapshots if s.price is not None]
    start = snapshots[0].equity if snapshots else None
    final = snapshots[-1].equity if snapshots else None
    return RunSummary(
        run_id=run_id,
        cycles=len(cycles),
        error_cycles=sum(c.status == "ERROR" for c in cycles),
        trades=len(trades),
        fees=sum((quote_fee(t) for t in trades), Decimal(0)),
        start_equity=start,
        final_equity=final,
        total_return=float(final / start - 1) if start and final else None,
        buy_and_hold=prices[-1] / prices[0] - 1 if len(prices) > 1 else None,
        max_drawdown=max_drawdown(equity),
        decisions=len(decisions),
        schema_valid=valid,
        guardrail_trips=sum(c.guardrail is not None for c in cycles),
        fallback_cycles=sum(c.fallbacks > 0 for c in cycles),
        model_calls_per_cycle=sum(c.model_calls for c in cycles) / len(cycles) if cycles else 0.0,
        mean_cycle_ms=sum(c.duration_ms for c in cycles) / len(cycles) if cycles else 0.0,
    )
