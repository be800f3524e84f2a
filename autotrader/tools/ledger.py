"""The ledger: append-only writes of decisions, trades and portfolio snapshots, and reads of them.

log_trade is idempotent: a second call with a used idempotency key returns the stored row and
writes nothing. Decision payloads are stored as exactly the seed schema's JSON.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Literal

from sqlalchemy.dialects.sqlite import insert
from sqlmodel import col, select

from autotrader.db import Database
from autotrader.db.models import Decision, PortfolioSnapshot, Trade
from autotrader.db.types import decimal_to_text
from autotrader.schemas import Payload, to_payload

AgentName = Literal["PLANNER", "TRADER", "JUDGE"]


def payload_json(payload: Payload) -> str:
    return json.dumps(to_payload(payload), separators=(",", ":"), sort_keys=True)


def log_decision(
    db: Database,
    *,
    agent: AgentName,
    payload: Payload,
    trace_id: str,
    ts: datetime,
    plan_id: str | None = None,
    proposal_id: str | None = None,
    model: str | None = None,
    prompt_hash: str | None = None,
    fallback_reason: str | None = None,
) -> Decision:
    row = Decision(
        ts=ts,
        agent=agent,
        trace_id=trace_id,
        payload_json=payload_json(payload),
        plan_id=plan_id,
        proposal_id=proposal_id,
        model=model,
        prompt_hash=prompt_hash,
        fallback_reason=fallback_reason,
    )
    with db.session() as session:
        session.add(row)
    return row


def log_trade(
    db: Database,
    *,
    ts: datetime,
    symbol: str,
    side: Literal["BUY", "SELL"],
    qty: Decimal,
    price: Decimal,
    fee: Decimal,
    idempotency_key: str,
    status: str = "FILLED",
    fee_asset: str = "USDT",
    order_id: str | None = None,
    client_order_id: str | None = None,
    proposal_id: str | None = None,
    trace_id: str | None = None,
) -> Trade:
    """Book a fill once. A used idempotency key returns the existing row unchanged."""
    values = {
        "ts": ts,
        "symbol": symbol,
        "side": side,
        "qty": qty,
        "price": price,
        "fee": fee,
        "fee_asset": fee_asset,
        "order_id": order_id,
        "client_order_id": client_order_id,
        "idempotency_key": idempotency_key,
        "proposal_id": proposal_id,
        "trace_id": trace_id,
        "status": status,
    }
    statement = (
        insert(Trade).values(**values).on_conflict_do_nothing(index_elements=["idempotency_key"])
    )
    with db.session() as session:
        session.execute(statement)
        return session.exec(select(Trade).where(Trade.idempotency_key == idempotency_key)).one()


def trade_by_key(db: Database, idempotency_key: str) -> Trade | None:
    with db.session() as session:
        return session.exec(select(Trade).where(Trade.idempotency_key == idempotency_key)).first()


def recent_trades(db: Database, limit: int = 10) -> Sequence[Trade]:
    """The newest trades, newest first."""
    with db.session() as session:
        return session.exec(select(Trade).order_by(col(Trade.id).desc()).limit(limit)).all()


def snapshot_portfolio(
    db: Database,
    *,
    ts: datetime,
    symbol: str,
    balances: Mapping[str, Decimal],
    price: Decimal,
    position_cost: Decimal,
    realized_pnl: Decimal,
) -> PortfolioSnapshot:
    """Mark the account to `price`: equity = quote + base * price, unrealized = value - cost."""
    base, quote = symbol.split("/")
    position_value = balances.get(base, Decimal(0)) * price
    row = PortfolioSnapshot(
        ts=ts,
        symbol=symbol,
        balances_json=json.dumps(
            {asset: decimal_to_text(amount) for asset, amount in sorted(balances.items())}
        ),
        price=price,
        equity=balances.get(quote, Decimal(0)) + position_value,
        unrealized_pnl=position_value - position_cost,
        realized_pnl=realized_pnl,
    )
    with db.session() as session:
        session.add(row)
    return row


def latest_portfolio(db: Database) -> PortfolioSnapshot | None:
    with db.session() as session:
        query = select(PortfolioSnapshot).order_by(col(PortfolioSnapshot.id).desc()).limit(1)
        return session.exec(query).first()
