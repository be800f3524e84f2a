"""Boot reconciliation: make the ledger's orders and trades agree with each other and with what
the venue says happened, idempotently.

Open cycles are finished first (by the orchestrator, from their stored intent); what is left are
orders of finished cycles. `plan_fixes` compares local state with the venue's reports (pure):
a fill the ledger lacks is booked under its order's own key (an order the ledger never saw,
under `venue:<client id>`); an order the venue never executed is marked REJECTED only once that
is proven (never sent, filled nothing, or absent from the venue's own history past a settle
window), else it stays UNKNOWN; a booked trade whose order row says otherwise is marked FILLED.
`reconcile` asks the venue and applies the fixes, each order's in one transaction.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlmodel import col, select

from autotrader.db import Database, Writer
from autotrader.db.models import Order, Trade
from autotrader.exchange.base import OrderReport, Venue
from autotrader.failpoints import failpoint
from autotrader.tools.ledger import fill_row, order_update, unsettled_orders

# How far back a live restart asks the venue for orders the ledger may have missed.
LIVE_LOOKBACK = timedelta(days=7)
# How long a sent order may be missing from the venue's lookups (which can lag) before its
# absence counts as proof that it never executed.
SETTLE_WINDOW = timedelta(minutes=10)

FixKind = Literal["book", "reject", "mark_filled", "unresolved"]


@dataclass(frozen=True)
class Fix:
    kind: FixKind
    client_order_id: str
    idempotency_key: str
    report: OrderReport | None = None
    trace_id: str | None = None
    why: str = ""
    sent: datetime | None = None  # an unresolved order's last send, which its window counts from


def plan_fixes(
    unsettled: Iterable[Order],
    found: dict[str, OrderReport | None],
    venue_orders: Iterable[OrderReport],
    booked_client_ids: set[str],
    known_keys: dict[str, str],
    *,
    now: datetime,
    misfiled: Iterable[str] = (),
    skip: Collection[str] = (),
) -> list[Fix]:
    """Compare local state with venue reports; returns what to write, touching nothing. Orders
    in `skip` (those of cycles still open) are left to their cycle."""
    fixes: list[Fix] = []
    history = {report.client_order_id: report for report in venue_orders}
    handled: set[str] = set(skip)
    for order in unsettled:
        cid = order.client_order_id
        handled.add(cid)
        report = found.get(cid) or history.get(cid)
        if cid in booked_client_ids:
            fixes.append(Fix("mark_filled", cid, order.idempotency_key, report))
        elif report is not None and report.filled_qty > 0:
            fixes.append(Fix("book", cid, order.idempotency_key, report, order.trace_id))
        elif report is not None:
            why = f"the venue filled nothing (status {report.status})"
            fixes.append(Fix("reject", cid, order.idempotency_key, report, why=why))
        elif order.status == "NEW":
            why = "never sent: its cycle ended before the order went out"
            fixes.append(Fix("reject", cid, order.idempotency_key, why=why))
        elif now - order.updated_ts >= SETTLE_WINDOW:
            why = "not found by client id nor in the venue's order history; never executed"
            fixes.append(Fix("reject", cid, order.idempotency_key, why=why))
        else:
            why = "not found at the venue yet; looked up again at the next start"
            fixes.append(
                Fix("unresolved", cid, order.idempotency_key, why=why, sent=order.updated_ts)
            )
    for cid in misfiled:  # booked, yet its order row says REJECTED (or anything but FILLED)
        if cid not in handled:
            handled.add(cid)
            fixes.append(Fix("mark_filled", cid, known_keys.get(cid, "")))
    for report in history.values():
        cid = report.client_order_id
        if cid in handled or cid in booked_client_ids or report.filled_qty <= 0:
            continue
        key = known_keys.get(cid, f"venue:{cid}")  # an order the ledger never persisted
        fixes.append(Fix("book", cid, key, report))
    return fixes


@dataclass(frozen=True)
class Reconciliation:
    booked: int = 0
    rejected: int = 0
    marked_filled: int = 0
    unresolved: int = 0

    @property
    def repaired(self) -> int:
        return self.booked + self.rejected + self.marked_filled

    def describe(self) -> str:
        """One line for the console."""
        return (
            f"reconciled with the venue: {self.booked} fill(s) booked from its records, "
            f"{self.rejected} order(s) proven never executed marked REJECTED, "
            f"{self.marked_filled} order row(s) corrected to FILLED, "
            f"{self.unresolved} still UNKNOWN"
        )


def _order_writer(fix: Fix, now: datetime) -> Writer:
    """The order row's new status for one fix."""
    if fix.kind == "reject":
        return order_update(fix.client_order_id, "REJECTED", now, error=fix.why)
    if fix.kind == "unresolved":  # its settle window still counts from its last send
        return order_update(fix.client_order_id, "UNKNOWN", fix.sent or now, error=fix.why)
    venue_id = fix.report.order_id if fix.report else None
    return order_update(fix.client_order_id, "FILLED", now, venue_order_id=venue_id)


def reconcile(
    db: Database,
    venue: Venue,
    *,
    since: datetime,
    now: datetime,
    run_id: str | None,
    open_traces: Collection[str] = (),
) -> Reconciliation:
    """Repair every disagreement, except in the orders of cycles still open (theirs to finish)."""
    unsettled = unsettled_orders(db)
    pending = [o for o in unsettled if o.trace_id not in open_traces]
    skip = {o.client_order_id for o in unsettled if o.trace_id in open_traces}
    found = {order.client_order_id: venue.find_order(order.client_order_id) for order in pending}
    reported = venue.orders_since(since)
    with db.session() as session:
        booked = {
            cid
            for cid in session.exec(
                select(Trade.client_order_id).where(col(Trade.symbol) == venue.symbol)
            )
            if cid
        }
        keys = dict(session.exec(select(Order.client_order_id, Order.idempotency_key)).all())
        misfiled = [
            cid
            for cid in session.exec(
                select(Order.client_order_id).where(
                    col(Order.status) != "FILLED", col(Order.client_order_id).in_(booked)
                )
            )
        ]
    fixes = plan_fixes(
        pending, found, reported, booked, keys, now=now, misfiled=misfiled, skip=skip
    )
    for number, fix in enumerate(fixes, start=1):
        once = []
        if fix.kind == "book" and fix.report is not None:
            once.append(
                fill_row(
                    fix.report,
                    idempotency_key=fix.idempotency_key,
                    trace_id=fix.trace_id,
                    run_id=run_id,
                )
            )
        writers = [_order_writer(fix, now)] if fix.client_order_id in keys else []
        db.write([], writers, once=once)
        if number == 1:
            failpoint("reconcile")
    return Reconciliation(
        booked=sum(f.kind == "book" for f in fixes),
        rejected=sum(f.kind == "reject" for f in fixes),
        marked_filled=sum(f.kind == "mark_filled" for f in fixes),
        unresolved=sum(f.kind == "unresolved" for f in fixes),
    )
