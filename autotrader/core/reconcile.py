"""Boot reconciliation: make the ledger agree with what the venue says happened.

A crash between sending an order and booking its fill leaves an order PENDING (or UNKNOWN) in
the ledger while the venue has filled it. `plan_fixes` compares the two (pure); `reconcile` asks
the venue and applies the fixes: fills the ledger lacks are booked from the venue's record by
client order id, and orders the venue never saw are marked REJECTED. Nothing is ever resent.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlmodel import col, select

from autotrader.db import Database
from autotrader.db.models import Order, Trade
from autotrader.exchange.base import OrderReport, Venue
from autotrader.tools.ledger import log_fill, mark_order, unsettled_orders

# How far back a live restart asks the venue for orders the ledger may have missed.
LIVE_LOOKBACK = timedelta(days=7)


@dataclass(frozen=True)
class Fix:
    kind: Literal["book", "never_reached_venue"]
    client_order_id: str
    idempotency_key: str
    report: OrderReport | None = None
    trace_id: str | None = None


def plan_fixes(
    unsettled: Iterable[Order],
    found: dict[str, OrderReport | None],
    venue_orders: Iterable[OrderReport],
    booked_client_ids: set[str],
    known_keys: dict[str, str],
) -> list[Fix]:
    """Compare local state with venue reports; returns what to write, touching nothing."""
    fixes: list[Fix] = []
    handled: set[str] = set()
    for order in unsettled:
        report = found.get(order.client_order_id)
        handled.add(order.client_order_id)
        if report is not None and report.filled_qty > 0:
            if order.client_order_id not in booked_client_ids:
                fixes.append(
                    Fix(
                        "book",
                        order.client_order_id,
                        order.idempotency_key,
                        report,
                        order.trace_id,
                    )
                )
        elif report is None:
            fixes.append(Fix("never_reached_venue", order.client_order_id, order.idempotency_key))
    for report in venue_orders:
        cid = report.client_order_id
        if cid in handled or cid in booked_client_ids or report.filled_qty <= 0:
            continue
        key = known_keys.get(cid, f"venue:{cid}")  # an order the ledger never persisted
        fixes.append(Fix("book", cid, key, report))
    return fixes


@dataclass(frozen=True)
class Reconciliation:
    booked: int
    marked_rejected: int


def reconcile(
    db: Database, venue: Venue, *, since: datetime, now: datetime, run_id: str | None
) -> Reconciliation:
    pending = list(unsettled_orders(db))
    found = {order.client_order_id: venue.find_order(order.client_order_id) for order in pending}
    reported = venue.orders_since(since)
    client_ids = {order.client_order_id for order in pending} | {
        r.client_order_id for r in reported
    }
    with db.session() as session:
        booked = set(
            session.exec(
                select(Trade.client_order_id).where(col(Trade.client_order_id).in_(client_ids))
            ).all()
        )
        keys = dict(
            session.exec(
                select(Order.client_order_id, Order.idempotency_key).where(
                    col(Order.client_order_id).in_(client_ids)
                )
            ).all()
        )
    fixes = plan_fixes(pending, found, reported, {c for c in booked if c}, keys)
    for fix in fixes:
        if fix.kind == "book" and fix.report is not None:
            report = fix.report
            log_fill(
                db,
                report,
                idempotency_key=fix.idempotency_key,
                trace_id=fix.trace_id,
                run_id=run_id,
            )
            if fix.client_order_id in keys:
                mark_order(db, fix.client_order_id, "FILLED", now, venue_order_id=report.order_id)
        elif fix.kind == "never_reached_venue":
            mark_order(
                db,
                fix.client_order_id,
                "REJECTED",
                now,
                error="not found at the venue on reconciliation; never executed",
            )
    return Reconciliation(
        booked=sum(f.kind == "book" for f in fixes),
        marked_rejected=sum(f.kind == "never_reached_venue" for f in fixes),
    )
