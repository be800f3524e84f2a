"""Faults at a stateful Binance (tests/fakes/binance.py, under ccxt's own HTTP handling) that
once broke the one-order-per-decision and true-order-state promises: lookups that lag, an
unknown outcome closing its cycle, a crashed (or stopped) live run left behind; a replay
killed twice before one order's venue call, which then never sent it; and an unknown order
whose settle window every boot restarted. The storms that found most of them are
`make test-faults`."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from rich.console import Console

from autotrader.clock import SimulatedClock
from autotrader.config import Settings, load_settings
from autotrader.core.boot import run_agent
from autotrader.core.reconcile import SETTLE_WINDOW, reconcile
from autotrader.core.runs import finish_run, log_cycle, start_or_resume
from autotrader.db import AuditBuffer, Database
from autotrader.db.models import Cycle
from autotrader.errors import OrderOutcomeUnknown
from autotrader.exchange.ccxt_venue import LOOKUP_LAG, CcxtVenue
from autotrader.exchange.retry import RetryPolicy
from autotrader.failpoints import FAILPOINTS
from autotrader.tools.cap import CapRule
from autotrader.tools.ledger import mark_order, order_by_client_id
from autotrader.tools.trade import OrderIntent, TradeTool
from tests.crash_harness import rows
from tests.fakes.binance import FakeBinance, fake_settings
from tests.fakes.faults import TIMEOUT_AFTER, Fault, FaultPlan
from tests.fakes.traders import restless_models
from tests.faults.checks import lost_fills
from tests.helpers import (
    WHOLE_ACCOUNT,
    paper_venue,
    real_candles,
    replay_at,
    sent_intent,
    trade_tool,
)

T0 = datetime(2025, 9, 29, tzinfo=UTC)
QTY = Decimal("0.001")


def quiet_fake(**faults: object) -> FakeBinance:
    """The fake with no drawn faults: only what the test scripts."""
    plan = FaultPlan.quiet(**faults)  # type: ignore[arg-type]
    return FakeBinance(SimulatedClock(T0), real_candles(), plan, balances={"USDT": Decimal(1000)})


def tool_on(fake: FakeBinance, db: Database) -> TradeTool:
    lookup = RetryPolicy(attempts=3, initial_wait=0.5, max_wait=2, sleep=fake.advance)
    venue = CcxtVenue(fake.exchange(fake_settings()), "BTC/USDT", fake.clock, lookup)
    cap = CapRule(enforced=False, cap=Decimal(5), buffer=Decimal("0.01"))
    return TradeTool(venue, db, fake.clock, cap=cap, limit=WHOLE_ACCOUNT, lookup=lookup)


def sent_before_a_crash(
    fake: FakeBinance, tool: TradeTool, db: Database, *, reached_the_venue: bool
) -> OrderIntent:
    """An intent persisted and marked sent, as a process killed during the venue call leaves
    it; the venue executed it or not."""
    intent = tool.intend("BUY", QTY, "k")
    now = fake.clock.now()
    db.write([], once=[intent.row(now, "BTC/USDT")])
    mark_order(db, intent.client_order_id, "PENDING", now, sent=True)
    if reached_the_venue:
        tool.venue.create_market_order("BUY", QTY, intent.client_order_id)
    return intent


def test_a_sent_order_the_lookups_do_not_show_yet_is_not_sent_again(db: Database) -> None:
    fake = quiet_fake(lag_script=[120.0])  # executed, invisible to lookups for two minutes
    tool = tool_on(fake, db)
    intent = sent_before_a_crash(fake, tool, db, reached_the_venue=True)
    with pytest.raises(OrderOutcomeUnknown, match="lookups can lag"):
        tool.execute(intent, AuditBuffer())
    assert len(fake.orders) == 1  # a resend would have executed it twice (Binance would too)
    order = order_by_client_id(db, intent.client_order_id)
    assert order is not None and (order.status, order.sends) == ("UNKNOWN", 1)


def test_a_sent_order_still_unseen_past_the_lookup_lag_is_sent_once_more(db: Database) -> None:
    fake = quiet_fake()
    tool = tool_on(fake, db)
    intent = sent_before_a_crash(fake, tool, db, reached_the_venue=False)
    fake.advance(LOOKUP_LAG.total_seconds())
    outcome = AuditBuffer()
    fill = tool.execute(intent, outcome)
    outcome.flush(db)
    assert (fill.filled_qty, len(fake.orders)) == (QTY, 1)
    assert rows(db.path, "SELECT status, sends FROM orders") == [("FILLED", 2)]


def test_a_paper_intent_killed_before_each_venue_call_is_still_sent(db: Database) -> None:
    # The kill storm: killed at "sent" twice in a row, an order's sends counter reached its
    # limit though the paper venue never saw it; it was never sent and the replay diverged.
    feed, clock = replay_at(1000)
    venue = paper_venue(db, feed, clock)
    tool = trade_tool(venue, db, clock)
    intent = tool.intend("BUY", QTY, "k")
    sent_intent(db, **intent_fields(intent, clock.now()))
    mark_order(db, intent.client_order_id, "PENDING", clock.now(), sent=True)  # killed again
    outcome = AuditBuffer()
    fill = tool.execute(intent, outcome)
    outcome.flush(db)
    assert fill.filled_qty == QTY
    assert rows(db.path, "SELECT status, sends FROM orders") == [("FILLED", 3)]


def test_an_unknown_order_is_proven_absent_a_settle_window_after_its_send_however_many_boots(
    db: Database,
) -> None:
    feed, clock = replay_at(1000)
    venue = paper_venue(db, feed, clock)
    sent = clock.now()
    sent_intent(db, **intent_fields(trade_tool(venue, db, clock).intend("BUY", QTY, "k"), sent))
    for elapsed in (SETTLE_WINDOW * 0.6, SETTLE_WINDOW * 1.2):  # two boots; never at the venue
        reconcile(db, venue, since=sent, now=sent + elapsed, run_id=None)
    assert rows(db.path, "SELECT status FROM orders") == [("REJECTED",)]


def intent_fields(intent: OrderIntent, now: datetime) -> dict[str, object]:
    return {
        "ts": now,
        "symbol": "BTC/USDT",
        "side": intent.side,
        "qty": intent.qty,
        "client_order_id": intent.client_order_id,
        "idempotency_key": intent.idempotency_key,
        "trace_id": None,
    }


def run_live(settings: Settings, fake: FakeBinance, hours: float) -> None:
    options = fake.run_options(settings, restless_models(settings), hours=hours)
    asyncio.run(run_agent(settings, options, Console(file=io.StringIO())))


def test_a_cycle_whose_order_is_unknown_stays_open_until_the_order_shows(tmp_path: Path) -> None:
    # The first order executes, its answer is lost, and lookups miss it for five minutes.
    fake = quiet_fake(
        script={"POST /api/v3/order": [Fault(TIMEOUT_AFTER, executes=True)]},
        lag_script=[300.0],
    )
    settings = fake_settings(tmp_path / "live.db")
    run_live(settings, fake, hours=1)
    first, second = rows(settings.db_path, "SELECT cycle_ts, executed FROM cycles LIMIT 2")
    assert first[1] == 1  # its remaining rows say what happened: it traded
    # Nothing new was decided while the first order's outcome was unknown.
    gap = datetime.fromisoformat(second[0]) - datetime.fromisoformat(first[0])
    assert gap >= timedelta(seconds=300)
    assert lost_fills(settings.db_path, [o.client_order_id for o in fake.orders]) == []


class Crash(BaseException):
    """An error nothing in autotrader catches, as a kill."""


def crash() -> None:
    raise Crash


def test_a_live_restart_adopts_the_run_a_crash_left_and_finishes_its_cycle(
    tmp_path: Path,
) -> None:
    fake = quiet_fake()
    settings = fake_settings(tmp_path / "live.db")
    FAILPOINTS.arm("filled", 1, crash)
    try:
        with pytest.raises(Crash):
            run_live(settings, fake, hours=1)
    finally:
        FAILPOINTS.disarm()
    [(trace_id,)] = rows(settings.db_path, "SELECT trace_id FROM cycles WHERE status = 'OPEN'")
    run_live(settings, fake, hours=0.5)
    assert rows(settings.db_path, "SELECT count(*) FROM runs") == [(1,)]
    assert rows(settings.db_path, f"SELECT status FROM cycles WHERE trace_id = '{trace_id}'") == [
        ("OK",)
    ]
    assert len({o.client_order_id for o in fake.orders}) == len(fake.orders)


def test_a_live_run_stopped_with_a_cycle_open_is_adopted(db: Database) -> None:
    settings = load_settings(env_file=None, feed="live")
    first = start_or_resume(db, settings, provider="offline", models={}, span=None, wall_now=T0)
    audit = AuditBuffer()
    log_cycle(
        audit,
        Cycle(
            run_id=first.run_id,
            trace_id="t-open",
            cycle_ts=T0,
            wall_ts=T0,
            status="OPEN",
            wakeup_secs=300,
            duration_ms=0.0,
        ),
    )
    audit.flush(db)
    finish_run(db, first.run_id, "STOPPED", T0)
    again = start_or_resume(db, settings, provider="offline", models={}, span=None, wall_now=T0)
    assert (again.run_id, again.resumed) == (first.run_id, True)
