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
from typing import Any, Literal

from sqlalchemy import Connection, bindparam, update
from sqlalchemy import select as select_columns
from sqlmodel import col, select

from autotrader.config import split_symbol
from autotrader.db import Database, Row, Sink, Writer
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


def trade_row(
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
) -> Row:
    """A fill as a trades row, to be added once (its idempotency key is unique)."""
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
    return Trade, values


def fill_row(
    report: OrderReport, *, idempotency_key: str, trace_id: str | None, run_id: str | None
) -> Row:
    """What a venue reports for an order, as a trades row."""
    return trade_row(
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


def log_trade(db: Database, **fields: Any) -> Trade:
    """Book a fill once, now. A used idempotency key returns the existing row unchanged."""
    row = trade_row(**fields)
    db.write([], once=[row])
    booked = trade_by_key(db, row[1]["idempotency_key"])
    assert booked is not None, "the trade was just inserted or already there"
    return booked


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
            for c in (
                Trade.id,
                Trade.side,
                Trade.qty,
                Trade.price,
                Trade.fee,
                Trade.fee_asset,
                Trade.client_order_id,
            )
        )
    )
    .where(
        col(Trade.symbol) == bindparam("symbol"),
        col(Trade.id) > bindparam("after_id"),
        col(Trade.run_id).in_(select(Run.run_id).where(col(Run.scope) == bindparam("scope"))),
    )
    .order_by(col(Trade.id))
)


def intent_row(
    *,
    ts: datetime,
    symbol: str,
    side: Side,
    qty: Decimal,
    client_order_id: str,
    idempotency_key: str,
    trace_id: str | None,
    max_cost: Decimal | None = None,
) -> Row:
    """An order's intent as an orders row: NEW, persisted before the venue may see it."""
    values = {
        "created_ts": ts,
        "updated_ts": ts,
        "symbol": symbol,
        "side": side,
        "qty": qty,
        "client_order_id": client_order_id,
        "idempotency_key": idempotency_key,
        "trace_id": trace_id,
        "status": "NEW",
        "max_cost": max_cost,
        "sends": 0,
    }
    return Order, values


def record_order_intent(db: Database, **fields: Any) -> Order:
    """Persist an order's intent now; returns the existing row if there is one."""
    row = intent_row(**fields)
    db.write([], once=[row])
    order = order_by_client_id(db, row[1]["client_order_id"])
    assert order is not None, "the order was just inserted or already there"
    return order


def decisions_of(db: Database, trace_id: str) -> Sequence[Decision]:
    """One cycle's decisions, in the order they were made."""
    query = select(Decision).where(Decision.trace_id == trace_id).order_by(col(Decision.id))
    with db.session() as session:
        return session.exec(query).all()


def order_of_trace(db: Database, trace_id: str) -> Order | None:
    """The order a cycle decided on, if it decided on one."""
    with db.session() as session:
        return session.exec(select(Order).where(Order.trace_id == trace_id)).first()


def order_by_client_id(db: Database, client_order_id: str) -> Order | None:
    with db.session() as session:
        return session.exec(select(Order).where(Order.client_order_id == client_order_id)).first()


OrderStatus = Literal["PENDING", "FILLED", "REJECTED", "UNKNOWN"]


def order_update(
    client_order_id: str,
    status: OrderStatus,
    ts: datetime,
    *,
    venue_order_id: str | None = None,
    error: str | None = None,
    sent: bool = False,
) -> Writer:
    """A writer that sets an order's status (and counts a send when `sent`)."""
    values: dict[str, Any] = {"status": status, "updated_ts": ts, "error": error}
    if venue_order_id is not None:
        values["venue_order_id"] = venue_order_id
    if sent:
        values["sends"] = col(Order.sends) + 1
    statement = update(Order).where(col(Order.client_order_id) == client_order_id).values(values)

    def write(connection: Connection) -> None:
        connection.execute(statement)

    return write


def mark_order(
    db: Database,
    client_order_id: str,
    status: OrderStatus,
    ts: datetime,
    *,
    venue_order_id: str | None = None,
    error: str | None = None,
    sent: bool = False,
) -> None:
    """Set an order's status now, in its own transaction."""
    db.write(
        [],
        [
            order_update(
                client_order_id, status, ts, venue_order_id=venue_order_id, error=error, sent=sent
            )
        ],
    )


def unsettled_orders(db: Database) -> Sequence[Order]:
    """Orders whose outcome the ledger does not know yet (NEW, PENDING or UNKNOWN)."""
    query = (
        select(Order)
        .where(col(Order.status).in_(["NEW", "PENDING", "UNKNOWN"]))
        .order_by(col(Order.id))
    )
    with db.session() as session:
        return session.exec(query).all()
