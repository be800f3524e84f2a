"""The ledger books each fill once, stores decisions as exactly the schema's JSON, links a
cycle's rows by decision id, and snapshots the portfolio in the seed's columns."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

from sqlmodel import func, select, text

from autotrader.db import Database
from autotrader.db.models import Decision, PortfolioSnapshot, Trade
from autotrader.exchange.accounting import Books
from autotrader.exchange.base import AccountState
from autotrader.schemas import SAFE_PLAN, SAFE_PROPOSAL, SAFE_VERDICT, Proposal
from autotrader.tools.ledger import (
    log_decision,
    log_trade,
    recent_trades,
    snapshot_portfolio,
)

NOW = datetime(2025, 9, 6, 12, 0, tzinfo=UTC)


def _fill(db: Database, key: str, qty: str = "0.00010") -> Trade:
    return log_trade(
        db,
        ts=NOW,
        symbol="BTC/USDT",
        side="BUY",
        qty=Decimal(qty),
        price=Decimal("110000.01"),
        fee=Decimal("0.011"),
        idempotency_key=key,
        order_id="o-" + key,
    )


def test_log_trade_with_a_used_idempotency_key_returns_the_existing_row(db: Database) -> None:
    first = _fill(db, "same-key", qty="0.00010")
    second = _fill(db, "same-key", qty="0.5")
    assert second.id == first.id
    assert second.qty == Decimal("0.00010")
    with db.session() as session:
        assert session.exec(select(func.count()).select_from(Trade)).one() == 1


def test_distinct_keys_book_distinct_trades_newest_first(db: Database) -> None:
    _fill(db, "a")
    _fill(db, "b")
    assert [t.idempotency_key for t in recent_trades(db, limit=5)] == ["b", "a"]


def test_log_decision_stores_exactly_the_schema_json(db: Database) -> None:
    proposal = Proposal(action="HOLD", qty="0", policy_id="hold", hypothesis="flat", confidence=0.5)
    log_decision(
        db,
        agent="TRADER",
        payload=proposal,
        trace_id="trace_1",
        ts=NOW,
        model="offline",
        prompt_hash="abc123",
    )
    with db.session() as session:
        row = session.exec(select(Decision)).one()
    assert json.loads(row.payload_json) == {
        "action": "HOLD",
        "qty": "0",
        "policy_id": "hold",
        "hypothesis": "flat",
        "confidence": 0.5,
    }
    assert (row.agent, row.trace_id) == ("TRADER", "trace_1")
    assert (row.model, row.prompt_hash) == ("offline", "abc123")


def test_decisions_link_to_their_cycles_planner_and_trader_rows_by_id(db: Database) -> None:
    for trace_id in ("trace_a", "trace_b"):
        log_decision(db, agent="PLANNER", payload=SAFE_PLAN, trace_id=trace_id, ts=NOW)
        log_decision(db, agent="TRADER", payload=SAFE_PROPOSAL, trace_id=trace_id, ts=NOW)
        log_decision(db, agent="JUDGE", payload=SAFE_VERDICT, trace_id=trace_id, ts=NOW)
    with db.engine.connect() as connection:
        walked = connection.execute(
            text(
                "SELECT p.trace_id, p.id, t.id, j.id FROM decisions j "
                "JOIN decisions t ON j.proposal_id = t.id JOIN decisions p ON t.plan_id = p.id "
                "ORDER BY j.id"
            )
        ).all()
    with db.session() as session:
        planner = session.exec(select(Decision).where(Decision.agent == "PLANNER")).all()
    assert [tuple(row) for row in walked] == [("trace_a", 1, 2, 3), ("trace_b", 4, 5, 6)]
    assert all(row.plan_id is None and row.proposal_id is None for row in planner)


def test_a_trade_links_to_the_trader_decision_of_its_cycle(db: Database) -> None:
    log_decision(db, agent="PLANNER", payload=SAFE_PLAN, trace_id="trace_a", ts=NOW)
    log_decision(db, agent="TRADER", payload=SAFE_PROPOSAL, trace_id="trace_a", ts=NOW)
    trade = log_trade(
        db,
        ts=NOW,
        symbol="BTC/USDT",
        side="BUY",
        qty=Decimal("0.001"),
        price=Decimal("110000"),
        fee=Decimal("0.11"),
        idempotency_key="k",
        trace_id="trace_a",
    )
    assert trade.proposal_id == 2


def test_snapshot_marks_the_position_to_market(db: Database) -> None:
    snapshot_portfolio(
        db,
        ts=NOW,
        symbol="BTC/USDT",
        account=AccountState({"USDT": Decimal("900"), "BTC": Decimal("0.001")}),
        price=Decimal("120000"),
        books=Books(Decimal("0.001"), Decimal("900"), Decimal("110"), Decimal("-1.5")),
    )
    with db.session() as session:
        latest = session.exec(select(PortfolioSnapshot)).one()
    assert latest.equity == Decimal("1020.000")
    assert latest.unrealized_pnl_usdt == Decimal("10.000")
    assert latest.realized_pnl_usdt == Decimal("-1.5")
    assert (latest.balance_usdt, latest.balance_btc) == (Decimal("900"), Decimal("0.001"))
    assert json.loads(latest.balances_json) == {"BTC": "0.001", "USDT": "900"}


def test_a_snapshot_of_another_base_has_no_btc_and_keeps_every_asset(db: Database) -> None:
    snapshot_portfolio(
        db,
        ts=NOW,
        symbol="ETH/USDT",
        account=AccountState({"USDT": Decimal("500"), "ETH": Decimal("0.2")}),
        price=Decimal("2500"),
        books=Books(Decimal("0.2"), Decimal("500"), Decimal("490"), Decimal(0)),
    )
    with db.session() as session:
        latest = session.exec(select(PortfolioSnapshot)).one()
    assert (latest.balance_usdt, latest.balance_btc) == (Decimal("500"), Decimal(0))
    assert json.loads(latest.balances_json) == {"ETH": "0.2", "USDT": "500"}
