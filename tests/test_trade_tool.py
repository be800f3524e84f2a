"""The trade tool places each order at most once, persists before sending, looks up after a
timeout instead of resending, and stops over-cap orders in real mode before anything is sent."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import func, select

from autotrader.clock import SimulatedClock
from autotrader.db import Database
from autotrader.db.models import Order, Trade
from autotrader.errors import (
    CapExceeded,
    InsufficientFunds,
    OrderOutcomeUnknown,
    RejectedByRules,
    TradeError,
)
from autotrader.exchange.base import AccountState, MarketData, OrderReport, Side
from autotrader.exchange.paper import PaperVenue
from autotrader.exchange.rules import MarketRules
from autotrader.tools.cap import CapRule
from autotrader.tools.ledger import order_by_client_id
from autotrader.tools.trade import TradeTool, client_order_id, make_idem
from tests.helpers import (
    NO_WAIT,
    SteerableMarket,
    btc_rules,
    paper_venue,
    replay_at,
    sent_intent,
    trade_tool,
)

NOW = datetime(2025, 9, 10, 12, 0, 30, tzinfo=UTC)


def _count(db: Database, table: type[Trade] | type[Order]) -> int:
    with db.session() as session:
        return session.exec(select(func.count()).select_from(table)).one()


def test_idempotency_key_is_stable_for_a_retry_and_distinct_across_cycles() -> None:
    args: tuple[datetime, str, Side, Decimal, Decimal] = (
        NOW,
        "BTC/USDT",
        "BUY",
        Decimal("0.001"),
        Decimal("110000.5"),
    )
    assert make_idem("trace_a", *args) == make_idem("trace_a", *args)
    assert make_idem("trace_a", *args) != make_idem("trace_b", *args)
    later = (NOW.replace(minute=1), *args[1:])
    assert make_idem("trace_a", *args) != make_idem("trace_a", *later)


def test_client_order_id_fits_binance_limits() -> None:
    cid = client_order_id(make_idem("t", NOW, "BTC/USDT", "BUY", Decimal(1), Decimal(1)))
    assert len(cid) <= 36
    assert all(ch.isalnum() or ch in "._:/-" for ch in cid)


def test_placing_twice_with_the_same_key_makes_one_order(db: Database) -> None:
    feed, clock = replay_at(1000)
    venue = paper_venue(db, feed, clock)
    tool = trade_tool(venue, db, clock)
    first = tool.place_market_order("BUY", Decimal("0.001"), "key-1", trace_id="t1")
    second = tool.place_market_order("BUY", Decimal("0.001"), "key-1", trace_id="t1")
    assert second == first
    assert _count(db, Trade) == 1 and _count(db, Order) == 1
    assert venue.account().balances["BTC"] == Decimal("0.001")
    assert first.filled_qty == Decimal("0.001")


def test_qty_is_quantized_down_to_the_step(db: Database) -> None:
    feed, clock = replay_at(1000)
    fill = trade_tool(paper_venue(db, feed, clock), db, clock).place_market_order(
        "BUY", Decimal("0.0012345"), "k"
    )
    assert fill.filled_qty == Decimal("0.00123")


def test_below_min_notional_is_rejected_before_anything_is_written(db: Database) -> None:
    feed, clock = replay_at(1000)
    tool = trade_tool(paper_venue(db, feed, clock), db, clock)
    with pytest.raises(RejectedByRules, match="minNotional"):
        tool.place_market_order("BUY", Decimal("0.00002"), "small")
    assert _count(db, Order) == 0


@dataclass
class FlakyVenue:
    """A paper venue whose placement answer can be lost (after, or instead of, placing)."""

    inner: PaperVenue
    lose_answer_after_placing: bool = True
    lose_answer_without_placing: bool = False
    sent: list[str] = field(default_factory=list)
    persisted_before_send: list[bool] = field(default_factory=list)
    db: Database | None = None

    name = "flaky-paper"
    lookup_lag = timedelta(0)

    @property
    def symbol(self) -> str:
        return self.inner.symbol

    @property
    def market(self) -> MarketData:
        return self.inner.market

    @property
    def rules(self) -> MarketRules:
        return self.inner.rules

    def account(self) -> AccountState:
        return self.inner.account()

    def find_order(self, client_order_id: str) -> OrderReport | None:
        return self.inner.find_order(client_order_id)

    def orders_since(self, since: datetime) -> list[OrderReport]:
        return self.inner.orders_since(since)

    def cancel_all(self) -> int:
        return 0

    def create_market_order(
        self, side: Side, qty: Decimal, client_order_id: str, *, max_cost: Decimal | None = None
    ) -> OrderReport:
        assert self.db is not None
        self.persisted_before_send.append(order_by_client_id(self.db, client_order_id) is not None)
        self.sent.append(client_order_id)
        if self.lose_answer_without_placing:
            raise OrderOutcomeUnknown("connection reset")
        report = self.inner.create_market_order(side, qty, client_order_id, max_cost=max_cost)
        if self.lose_answer_after_placing:
            raise OrderOutcomeUnknown("read timed out")
        return report


def test_the_client_id_is_persisted_before_the_venue_sees_the_order(db: Database) -> None:
    feed, clock = replay_at(1000)
    venue = FlakyVenue(paper_venue(db, feed, clock), lose_answer_after_placing=False, db=db)
    trade_tool(venue, db, clock).place_market_order("BUY", Decimal("0.001"), "k")
    assert venue.persisted_before_send == [True]


def test_after_a_timeout_the_order_is_looked_up_not_resent(db: Database) -> None:
    feed, clock = replay_at(1000)
    venue = FlakyVenue(paper_venue(db, feed, clock), db=db)
    fill = trade_tool(venue, db, clock).place_market_order("BUY", Decimal("0.001"), "k")
    assert len(venue.sent) == 1
    assert fill.filled_qty == Decimal("0.001")
    assert _count(db, Trade) == 1


def test_an_order_not_found_after_a_timeout_stays_unknown_and_is_not_resent(db: Database) -> None:
    feed, clock = replay_at(1000)
    venue = FlakyVenue(paper_venue(db, feed, clock), lose_answer_without_placing=True, db=db)
    tool = trade_tool(venue, db, clock)
    with pytest.raises(OrderOutcomeUnknown, match="left UNKNOWN"):
        tool.place_market_order("BUY", Decimal("0.001"), "k")
    order = order_by_client_id(db, client_order_id("k"))
    assert order is not None and order.status == "UNKNOWN"
    assert venue.sent == [client_order_id("k")]
    assert _count(db, Trade) == 0


def test_a_retry_after_a_crash_past_sending_finds_the_order_by_client_id(db: Database) -> None:
    feed, clock = replay_at(1000)
    venue = FlakyVenue(paper_venue(db, feed, clock), lose_answer_after_placing=False, db=db)
    cid = client_order_id("k")
    # The crashed attempt: intent persisted and the venue filled it, but no ledger row.
    sent_intent(
        db,
        ts=clock.now(),
        symbol="BTC/USDT",
        side="BUY",
        qty=Decimal("0.001"),
        client_order_id=cid,
        idempotency_key="k",
        trace_id="t",
    )
    venue.inner.create_market_order("BUY", Decimal("0.001"), cid)
    fill = trade_tool(venue, db, clock).place_market_order("BUY", Decimal("0.001"), "k")
    assert venue.sent == []  # found by client id: no second order
    assert fill.filled_qty == Decimal("0.001")
    assert _count(db, Trade) == 1


def test_insufficient_funds_is_typed_and_marks_the_order_rejected(db: Database) -> None:
    feed, clock = replay_at(1000)
    tool = trade_tool(paper_venue(db, feed, clock), db, clock)
    with pytest.raises(InsufficientFunds):
        tool.place_market_order("SELL", Decimal("0.001"), "k")
    order = order_by_client_id(db, client_order_id("k"))
    assert order is not None and order.status == "REJECTED"


def test_in_real_mode_an_over_cap_buy_raises_before_anything_is_sent(db: Database) -> None:
    feed, clock = replay_at(1000)
    venue = FlakyVenue(paper_venue(db, feed, clock), lose_answer_after_placing=False, db=db)
    with pytest.raises(CapExceeded, match="DEPOSIT_CAP_USDT=5"):
        trade_tool(venue, db, clock, real=True, cap="5").place_market_order(
            "BUY", Decimal("0.0001"), "k"
        )
    assert venue.sent == [] and _count(db, Order) == 0


def test_in_real_mode_selling_is_never_blocked_by_the_cap(db: Database) -> None:
    feed, clock = replay_at(1000)
    venue = paper_venue(db, feed, clock)
    trade_tool(venue, db, clock).place_market_order("BUY", Decimal("0.001"), "buy")
    fill = trade_tool(venue, db, clock, real=True, cap="5").place_market_order(
        "SELL", Decimal("0.001"), "sell"
    )
    assert fill.side == "SELL"


def test_pre_trade_check_lists_rule_and_cap_violations(db: Database) -> None:
    feed, clock = replay_at(1000)
    tool = trade_tool(paper_venue(db, feed, clock), db, clock, real=True, cap="20")
    check = tool.pre_trade_check("BUY", Decimal("0.0012345"))
    assert check["qty_on_step"] == "0.00123"
    assert any("not a multiple of the step" in v for v in check["violations"])
    assert any("DEPOSIT_CAP_USDT=20" in v for v in check["violations"])
    assert Decimal(check["max_qty_under_cap"]) * Decimal(check["price"]) <= 20
    assert Decimal(check["min_valid_qty"]) * Decimal(check["price"]) >= 5


# --- the cap as a property: nothing gets exposure above it ---

step = st.tuples(
    st.sampled_from(["BUY", "SELL"]),
    st.decimals(min_value=Decimal("0.00001"), max_value=Decimal("0.01"), places=6),
    st.decimals(min_value=Decimal("20000"), max_value=Decimal("150000"), places=2),
    st.decimals(min_value=Decimal("-0.01"), max_value=Decimal("0.01"), places=4),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cap=st.decimals(min_value=Decimal("5"), max_value=Decimal("500"), places=2),
    steps=st.lists(step, min_size=1, max_size=12),
)
def test_no_sequence_of_orders_prices_and_fills_exceeds_the_cap(
    cap: Decimal, steps: list[tuple[Side, Decimal, Decimal, Decimal]]
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = Database.open(Path(tmp) / "cap.db")
        clock = SimulatedClock(NOW)
        market = SteerableMarket()
        venue = PaperVenue(
            db,
            market,
            market,
            btc_rules(),
            clock,
            start_quote=Decimal(10**6),
            fee_rate=Decimal("0.001"),
            slippage=Decimal(0),
        )
        rule = CapRule(enforced=True, cap=cap, buffer=Decimal("0.01"))
        tool = TradeTool(venue, db, clock, cap=rule, lookup=NO_WAIT)
        for n, (side, qty, price, fill_offset) in enumerate(steps):
            market.price, market.fill_offset = price, fill_offset  # fills within the buffer
            try:
                fill = tool.place_market_order(side, qty, f"k{n}")
            except TradeError:
                continue
            held = venue.account().balances["BTC"]
            if fill.side == "BUY":
                assert held * fill.price <= cap
        db.close()
