"""The ledger books each fill once and stores decisions as exactly the schema's JSON."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

from sqlmodel import func, select

from autotrader.db import Database
from autotrader.db.models import Decision, PortfolioSnapshot, Trade
from autotrader.schemas import Proposal
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
        plan_id="p1",
        proposal_id="q1",
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
    assert (row.agent, row.trace_id, row.plan_id, row.proposal_id) == (
        "TRADER",
        "trace_1",
        "p1",
        "q1",
    )
    assert (row.model, row.prompt_hash) == ("offline", "abc123")


def test_snapshot_marks_the_position_to_market(db: Database) -> None:
    snapshot_portfolio(
        db,
        ts=NOW,
        symbol="BTC/USDT",
        balances={"USDT": Decimal("900"), "BTC": Decimal("0.001")},
        price=Decimal("120000"),
        position_cost=Decimal("110"),
        realized_pnl=Decimal("-1.5"),
    )
    with db.session() as session:
        latest = session.exec(select(PortfolioSnapshot)).one()
    assert latest.equity == Decimal("1020.000")
    assert latest.unrealized_pnl == Decimal("10.000")
    assert latest.realized_pnl == Decimal("-1.5")
    assert json.loads(latest.balances_json) == {"BTC": "0.001", "USDT": "900"}
