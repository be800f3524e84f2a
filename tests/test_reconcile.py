"""Boot reconciliation: the ledger is made to agree with the venue, by client order id."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlmodel import select

from autotrader.core.reconcile import SETTLE_WINDOW, plan_fixes, reconcile
from autotrader.db import Database
from autotrader.db.models import Order, Trade
from autotrader.exchange.base import OrderReport
from autotrader.tools.ledger import order_by_client_id
from tests.helpers import paper_venue, replay_at, sent_intent

NOW = datetime(2025, 9, 10, tzinfo=UTC)


def _order(cid: str, status: str = "PENDING") -> Order:
    return Order(
        created_ts=NOW,
        updated_ts=NOW,
        symbol="BTC/USDT",
        side="BUY",
        qty=Decimal(1),
        client_order_id=cid,
        idempotency_key=f"key-{cid}",
        status=status,
    )


def _report(cid: str, filled: str = "0.001") -> OrderReport:
    return OrderReport(
        order_id=f"o-{cid}",
        client_order_id=cid,
        symbol="BTC/USDT",
        side="BUY",
        status="FILLED",
        filled_qty=Decimal(filled),
        avg_price=Decimal(100000),
        fee=Decimal("0.1"),
        fee_asset="USDT",
        ts=NOW,
    )


def test_a_pending_order_the_venue_filled_is_booked_under_its_own_key() -> None:
    fixes = plan_fixes(
        [_order("a")], {"a": _report("a")}, [_report("a")], set(), {"a": "key-a"}, now=NOW
    )
    assert [(f.kind, f.client_order_id, f.idempotency_key) for f in fixes] == [
        ("book", "a", "key-a")
    ]


def test_a_sent_order_the_venue_never_saw_is_marked_never_executed_after_the_settle_window() -> (
    None
):
    later = NOW + SETTLE_WINDOW
    fixes = plan_fixes([_order("b")], {"b": None}, [], set(), {"b": "key-b"}, now=later)
    assert [(f.kind, f.client_order_id) for f in fixes] == [("reject", "b")]


def test_a_sent_order_missing_within_the_settle_window_stays_unknown() -> None:
    fixes = plan_fixes([_order("b")], {"b": None}, [], set(), {"b": "key-b"}, now=NOW)
    assert [(f.kind, f.client_order_id) for f in fixes] == [("unresolved", "b")]


def test_an_intent_that_was_never_sent_is_marked_rejected_at_once() -> None:
    fixes = plan_fixes([_order("n", "NEW")], {"n": None}, [], set(), {"n": "key-n"}, now=NOW)
    assert [(f.kind, f.why) for f in fixes] == [
        ("reject", "never sent: its cycle ended before the order went out")
    ]


def test_a_booked_order_whose_row_says_rejected_is_corrected_to_filled() -> None:
    fixes = plan_fixes([], {}, [], {"r"}, {"r": "key-r"}, now=NOW, misfiled=["r"])
    assert [(f.kind, f.client_order_id) for f in fixes] == [("mark_filled", "r")]


def test_a_venue_fill_unknown_to_the_ledger_is_booked_under_a_venue_key() -> None:
    fixes = plan_fixes([], {}, [_report("c")], set(), {}, now=NOW)
    assert [(f.kind, f.idempotency_key) for f in fixes] == [("book", "venue:c")]


def test_booked_or_unfilled_orders_need_nothing() -> None:
    assert plan_fixes([], {}, [_report("d")], {"d"}, {"d": "key-d"}, now=NOW) == []
    assert plan_fixes([], {}, [_report("e", filled="0")], set(), {}, now=NOW) == []


def test_reconcile_books_a_paper_fill_the_ledger_lacks(db: Database) -> None:
    feed, clock = replay_at(1000)
    venue = paper_venue(db, feed, clock)
    sent_intent(
        db,
        ts=clock.now(),
        symbol="BTC/USDT",
        side="BUY",
        qty=Decimal("0.001"),
        client_order_id="lost",
        idempotency_key="k-lost",
        trace_id="t",
    )
    venue.create_market_order("BUY", Decimal("0.001"), "lost")  # then the process died
    result = reconcile(
        db, venue, since=clock.now() - timedelta(hours=1), now=clock.now(), run_id="r"
    )
    assert (result.booked, result.rejected) == (1, 0)
    with db.session() as session:
        trade = session.exec(select(Trade)).one()
    assert (trade.client_order_id, trade.idempotency_key, trade.run_id) == ("lost", "k-lost", "r")
    order = order_by_client_id(db, "lost")
    assert order is not None and order.status == "FILLED"
    again = reconcile(
        db, venue, since=clock.now() - timedelta(hours=1), now=clock.now(), run_id="r"
    )
    assert (again.booked, again.rejected, again.marked_filled) == (0, 0, 0)  # idempotent
