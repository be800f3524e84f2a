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

from autotrader.db import Database, Sink
from autotrader.db.models import Decision, Order, PortfolioSnapshot, Trade
from autotrader.db.types import decimal_to_text
from autotrader.exchange.base import OrderReport
from autotrader.schemas import Payload, to_payload

AgentName = Literal["PLANNER", "TRADER", "JUDGE"]


def payload_json(payload: Payload) -> str:
    return json.dumps(to_payload(payload), separators=(",", ":"), sort_keys=True)


def log_decision(
    db: Sink,
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
) -> None:
    db.append_values(
        (
            Decision,
            {
                "ts": ts,
                "agent": agent,
                "trace_id": trace_id,
                "payload_json": payload_json(payload),
                "plan_id": plan_id,
                "proposal_id": proposal_id,
                "model": model,
                "prompt_hash": prompt_hash,
                "fallback_reason": fallback_reason,
            },
        )
    )


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
    run_id: str | None = None,
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
        "run_id": run_id,
    }
    statement = (
        insert(Trade).values(**values).on_conflict_do_nothing(index_elements=["idempotency_key"])
    )
    with db.session() as session:
        session.execute(statement)
        return session.exec(select(Trade).where(Trade.idempotency_key == idempotency_key)).one()


def log_fill(
    db: Database,
    report: OrderReport,
    *,
    idempotency_key: str,
    proposal_id: str | None,
    trace_id: str | None,
    run_id: str | None,
) -> Trade:
    """Book what a venue reports for an order (once: see log_trade)."""
    return log_trade(
        db,
        ts=report.ts,
        symbol=report.symbol,
        side=report.side,
        qty=report.filled_qty,
        price=report.avg_price,
        fee=report.fee,
        fee_asset=report.fee_asset,
        order_id=report.order_id,
        client_order_id=report.client_order_id,
        idempotency_key=idempotency_key,
        proposal_id=proposal_id,
        trace_id=trace_id,
        run_id=run_id,
        status="FILLED" if report.status == "FILLED" else "PARTIAL",
    )


def trade_by_key(db: Database, idempotency_key: str) -> Trade | None:
    with db.session() as session:
        return session.exec(select(Trade).where(Trade.idempotency_key == idempotency_key)).first()


def recent_trades(db: Database, limit: int = 10) -> Sequence[Trade]:
    """The newest trades, newest first."""
    with db.session() as session:
        return session.exec(select(Trade).order_by(col(Trade.id).desc()).limit(limit)).all()


def snapshot_portfolio(
    db: Sink,
    *,
    ts: datetime,
    symbol: str,
    balances: Mapping[str, Decimal],
    price: Decimal,
    position_cost: Decimal,
    realized_pnl: Decimal,
    run_id: str | None = None,
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
        run_id=run_id,
    )
    db.append_values((PortfolioSnapshot, row.model_dump(exclude={"id"})))
    return row


def trades_after(db: Database, symbol: str, after_id: int) -> Sequence[Trade]:
    """Trades in `symbol` booked after row `after_id`, oldest first (for incremental books)."""
    query = (
        select(Trade)
        .where(Trade.symbol == symbol, col(Trade.id) > after_id)
        .order_by(col(Trade.id))
    )
    with db.session() as session:
        return session.exec(query).all()


def record_order_intent(
    db: Database,
    *,
    ts: datetime,
    symbol: str,
    side: Literal["BUY", "SELL"],
    qty: Decimal,
    client_order_id: str,
    idempotency_key: str,
    trace_id: str | None,
    proposal_id: str | None,
) -> Order:
    """Persist an order's client id before the venue sees it; returns the existing row if any."""
    values = {
        "created_ts": ts,
        "updated_ts": ts,
        "symbol": symbol,
        "side": side,
        "qty": qty,
        "client_order_id": client_order_id,
        "idempotency_key": idempotency_key,
        "trace_id": trace_id,
        "proposal_id": proposal_id,
        "status": "PENDING",
    }
    statement = insert(Order).values(**values).on_conflict_do_nothing()
    with db.session() as session:
        session.execute(statement)
        return session.exec(select(Order).where(Order.client_order_id == client_order_id)).one()


def order_by_client_id(db: Database, client_order_id: str) -> Order | None:
    with db.session() as session:
        return session.exec(select(Order).where(Order.client_order_id == client_order_id)).first()


def mark_order(
    db: Database,
    client_order_id: str,
    status: Literal["FILLED", "REJECTED", "UNKNOWN"],
    ts: datetime,
    *,
    venue_order_id: str | None = None,
    error: str | None = None,
) -> None:
    with db.session() as session:
        order = session.exec(select(Order).where(Order.client_order_id == client_order_id)).one()
        order.status, order.updated_ts = status, ts
        order.venue_order_id = venue_order_id or order.venue_order_id
        order.error = error
        session.add(order)


def unsettled_orders(db: Database) -> Sequence[Order]:
    """Orders whose outcome the ledger does not know yet (PENDING or UNKNOWN)."""
    query = (
        select(Order).where(col(Order.status).in_(["PENDING", "UNKNOWN"])).order_by(col(Order.id))
    )
    with db.session() as session:
        return session.exec(query).all()
