"""The ledger: append-only writes of decisions, orders, trades and portfolio snapshots, and reads
of them.

log_trade is idempotent: a second call with a used idempotency key returns the stored row and
writes nothing. Decision payloads are stored as exactly the seed schema's JSON. A row's plan_id
and proposal_id are the ids of its cycle's PLANNER and TRADER decisions, filled from its
trace_id when it is inserted.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Literal

from sqlalchemy import bindparam
from sqlalchemy import select as select_columns
from sqlmodel import col, select

from autotrader.config import split_symbol
from autotrader.db import Database, Sink
from autotrader.db.models import Decision, Order, PortfolioSnapshot, Run, Trade
from autotrader.db.types import decimal_to_text
from autotrader.exchange.accounting import Books
from autotrader.exchange.base import AccountState, OrderReport, Side
from autotrader.schemas import Payload, Role, to_payload


def payload_json(payload: Payload) -> str:
    return json.dumps(to_payload(payload), separators=(",", ":"), sort_keys=True)


def log_decision(
    db: Sink,
    *,
    agent: Role,
    payload: Payload,
    trace_id: str,
    ts: datetime,
    model: str | None = None,
    prompt_hash: str | None = None,
    fallback_reason: str | None = None,
) -> None:
    """Log one decision; it links to the cycle's earlier PLANNER and TRADER decisions."""
    db.append_values(
        (
            Decision,
            {
                "ts_utc": ts,
                "agent": agent,
                "trace_id": trace_id,
                "payload_json": payload_json(payload),
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
    side: Side,
    qty: Decimal,
    price: Decimal,
    fee: Decimal,
    idempotency_key: str,
    status: str = "FILLED",
    fee_asset: str = "USDT",
    order_id: str | None = None,
    client_order_id: str | None = None,
    trace_id: str | None = None,
    run_id: str | None = None,
) -> Trade:
    """Book a fill once. A used idempotency key returns the existing row unchanged."""
    values = {
        "ts_utc": ts,
        "symbol": symbol,
        "side": side,
        "qty": qty,
        "price": price,
        "fee": fee,
        "fee_asset": fee_asset,
        "order_id": order_id,
        "client_order_id": client_order_id,
        "idempotency_key": idempotency_key,
        "trace_id": trace_id,
        "status": status,
        "run_id": run_id,
    }
    db.insert_once(Trade, values)
    booked = trade_by_key(db, idempotency_key)
    assert booked is not None, "the trade was just inserted or already there"
    return booked


def log_fill(
    db: Database,
    report: OrderReport,
    *,
    idempotency_key: str,
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


def quote_fee(trade: Trade) -> Decimal:
    """A trade's fee in the quote asset (Binance charges buys in the base asset)."""
    quote = split_symbol(trade.symbol)[1]
    return trade.fee if trade.fee_asset in (quote, "") else trade.fee * trade.price


def snapshot_portfolio(
    db: Sink,
    *,
    ts: datetime,
    symbol: str,
    account: AccountState,
    price: Decimal,
    books: Books,
    run_id: str | None = None,
) -> PortfolioSnapshot:
    """Mark the account to `price`: equity = quote + base * price, unrealized = value - cost."""
    base, quote = split_symbol(symbol)
    position_value = account.held(base) * price
    row = PortfolioSnapshot(
        ts_utc=ts,
        balance_usdt=account.held("USDT"),
        balance_btc=account.held("BTC"),
        unrealized_pnl_usdt=position_value - books.position_cost,
        realized_pnl_usdt=books.realized_pnl,
        balances_json=json.dumps(
            {asset: decimal_to_text(amount) for asset, amount in sorted(account.balances.items())}
        ),
        symbol=symbol,
        price=price,
        equity=account.held(quote) + position_value,
        run_id=run_id,
    )
    db.append_values((PortfolioSnapshot, row.model_dump(exclude={"id"})))
    return row


# The trades of one account (a memory scope: a replay run, or a live market and mode), after a
# given row: the books fold them incrementally, every cycle.
SCOPE_TRADES_AFTER = (
    select_columns(
        *(
            col(c)
            for c in (Trade.id, Trade.side, Trade.qty, Trade.price, Trade.fee, Trade.fee_asset)
        )
    )
    .where(
        col(Trade.symbol) == bindparam("symbol"),
        col(Trade.id) > bindparam("after_id"),
        col(Trade.run_id).in_(select(Run.run_id).where(col(Run.scope) == bindparam("scope"))),
    )
    .order_by(col(Trade.id))
)


def record_order_intent(
    db: Database,
    *,
    ts: datetime,
    symbol: str,
    side: Side,
    qty: Decimal,
    client_order_id: str,
    idempotency_key: str,
    trace_id: str | None,
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
        "status": "PENDING",
    }
    db.insert_once(Order, values)
    order = order_by_client_id(db, client_order_id)
    assert order is not None, "the order was just inserted or already there"
    return order


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
