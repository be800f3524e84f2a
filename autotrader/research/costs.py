"""What trading really costs, learned from the fills: the one-way cost the research charges.

A fill's one-way cost is its fee as a share of its notional plus how far it filled from the
price its decision saw, against the order (a BUY above that price, a SELL below it): what the
shadow books cannot know and a probe's real order measures. The research charges the configured
cost (FEE_RATE + SLIPPAGE) unless the last COST_FILLS fills show it is too low with about 97.5%
confidence (their mean less CONFIDENCE_Z standard errors is above it); then it charges their
mean. It never charges less than configured: a cheap streak is no reason to trade more. A fee
paid in a third asset (BNB) counts at FEE_RATE, its price part as measured.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam
from sqlalchemy import select as select_columns
from sqlmodel import col

from autotrader.db import Database
from autotrader.db.models import Cycle, Run, Trade
from autotrader.schemas import significant

COST_FILLS = 20  # the recent fills the measurement reads (its standard error: sd / 4.5)
MIN_FILLS = 5  # fewer say nothing about the spread of costs
CONFIDENCE_Z = 2.0

SCOPE_RUNS = select_columns(col(Run.run_id)).where(col(Run.scope) == bindparam("scope"))
# One run's newest fills, through the (run_id, id) index: no scan of other runs' trades.
RECENT_FILLS = (
    select_columns(
        col(Trade.id),
        col(Trade.side),
        col(Cycle.price),
        col(Trade.price),
        col(Trade.qty),
        col(Trade.fee),
        col(Trade.fee_asset),
    )
    .join(Cycle, col(Cycle.trace_id) == col(Trade.trace_id))
    .where(col(Trade.run_id) == bindparam("run_id"), col(Cycle.price).is_not(None))
    .order_by(col(Trade.id).desc())
    .limit(COST_FILLS)
)


def fill_cost(side: str, decision_price: Decimal, fill_price: Decimal, fee_share: Decimal) -> float:
    """One fill's one-way cost: its fee share of the notional plus its price against the
    order, relative to the price the decision saw (negative when it filled better)."""
    against = fill_price / decision_price - 1
    return float(fee_share + (against if side == "BUY" else -against))


def fee_share(
    fee: Decimal, fee_asset: str, qty: Decimal, price: Decimal, symbol: str
) -> Decimal | None:
    """The fee as a share of the fill's notional (no asset named: the quote asset, as the ledger
    books it); None for a fee paid in a third asset (its price is unknown here)."""
    base, quote = symbol.split("/", 1)
    if fee_asset in (quote, ""):
        return fee / (qty * price)
    if fee_asset == base:
        return fee / qty
    return None


@dataclass(frozen=True)
class CostModel:
    """The configured one-way cost and what the recent fills measured (mean, its standard
    error, how many fills)."""

    configured: Decimal
    measured: float | None = None
    stderr: float | None = None
    fills: int = 0

    @property
    def one_way(self) -> Decimal:
        """The cost the research charges: the measured mean when it is surely above the
        configured cost, else the configured cost."""
        if self.measured is None or self.stderr is None:
            return self.configured
        if self.measured - CONFIDENCE_Z * self.stderr > float(self.configured):
            return Decimal(str(significant(self.measured, 4)))
        return self.configured

    def view(self) -> dict[str, Any]:
        """For the Planner: configured, measured (None before MIN_FILLS fills), fills (what is
        charged is the brief's one_way_cost)."""
        return {
            "configured": float(self.configured),
            "measured": None if self.measured is None else significant(self.measured, 4),
            "fills": self.fills,
        }


def measure_costs(costs: list[float], configured: Decimal) -> CostModel:
    """The cost model from recent one-way fill costs."""
    if len(costs) < MIN_FILLS:
        return CostModel(configured, fills=len(costs))
    mean = math.fsum(costs) / len(costs)
    variance = math.fsum((c - mean) ** 2 for c in costs) / (len(costs) - 1)
    return CostModel(configured, mean, math.sqrt(variance / len(costs)), len(costs))


def read_cost_model(
    db: Database, scope: str, symbol: str, fee_rate: Decimal, slippage: Decimal
) -> CostModel:
    """The cost model from the scope's last COST_FILLS fills (each of its runs' newest, then
    the newest of those)."""
    rows = [
        row
        for (run_id,) in db.read(SCOPE_RUNS, scope=scope)
        for row in db.read(RECENT_FILLS, run_id=run_id)
    ]
    costs = []
    for _, side, decision, price, qty, fee, asset in sorted(rows, reverse=True)[:COST_FILLS]:
        if decision <= 0 or price <= 0 or qty <= 0:
            continue  # no fill prices like this; nothing to measure
        share = fee_share(fee, str(asset), qty, price, symbol)
        costs.append(fill_cost(str(side), decision, price, fee_rate if share is None else share))
    return measure_costs(costs, fee_rate + slippage)
