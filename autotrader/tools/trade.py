"""The trade tool: market orders that are placed at most once, within the rules and the cap.

An order goes in two steps. `intend` quantizes to the step and enforces minNotional, the
position limit (ORDER_FRACTION of equity, what the account holds) and (in real mode) the
deposit cap before anything is written; its intent row (NEW) is committed with the
cycle's decisions. `execute` marks it sent (PENDING), sends it, and writes what came of it (the
trade and the order's final status) to the caller's sink, committed with the cycle's last rows.
The same idempotency key never makes a second order: the ledger and then the venue (by client
id) are asked first; an intent found sent after a crash is looked up, and resent at most once,
only when the venue's lookups have not seen it for longer than they can lag. An error after
which the venue may have executed the order is looked up, never taken as a refusal; an order
still not found is UNKNOWN (raised as OrderOutcomeUnknown), to be looked up again. In real
mode a buy is sized in the quote asset (at most its approved notional), so no fill can take
exposure past the cap. Everything that reaches the caller is a TradeError.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_DOWN, Decimal
from typing import Any, NoReturn

from tenacity import (
    Retrying,
    retry_if_exception_type,
    retry_if_result,
    stop_after_attempt,
)

from autotrader.clock import Clock
from autotrader.config import split_symbol
from autotrader.db import AuditBuffer, Database, Row
from autotrader.db.models import Order, Trade
from autotrader.db.types import decimal_to_text
from autotrader.errors import (
    CapExceeded,
    OrderOutcomeUnknown,
    OrderPending,
    RejectedByRules,
    TradeError,
    VenueUnavailable,
    describe,
)
from autotrader.exchange.base import OrderReport, Side, Venue
from autotrader.exchange.retry import RetryPolicy
from autotrader.failpoints import failpoint
from autotrader.tools.cap import CapRule
from autotrader.tools.ledger import (
    fill_row,
    intent_row,
    mark_order,
    order_by_client_id,
    order_update,
    trade_by_key,
)
from autotrader.tools.position_limit import PositionLimit

ORDER_LOOKUP = RetryPolicy(attempts=4, initial_wait=0.5, max_wait=4.0)
# Sends of one intent to a venue whose lookups can lag: the first, and one resend once time has
# proven it absent. Where lookups read the venue's own book (paper), absence is proof at once,
# a resend cannot execute twice, and a crash before the venue call must not use up a send.
MAX_SENDS = 2
QUOTE_QUANTUM = Decimal("0.00000001")  # a quote-sized buy's budget, rounded down to this
CLIENT_ID_PREFIX = "at"  # Binance: at most 36 characters from [A-Za-z0-9._:/-]


def make_idem(
    trace_id: str, ts: datetime, symbol: str, side: Side, qty: Decimal, price: Decimal
) -> str:
    """sha256 of `trace|minute_bucket|symbol|side|qty|price_bucket`: a retry of one cycle's order
    reuses its key; two legitimate orders in the same minute (other cycles) never merge."""
    minute_bucket = ts.strftime("%Y-%m-%dT%H:%M")
    price_bucket = int(price)  # whole quote units: a re-quote within a unit is the same order
    text = f"{trace_id}|{minute_bucket}|{symbol}|{side}|{decimal_to_text(qty)}|{price_bucket}"
    return hashlib.sha256(text.encode()).hexdigest()


def client_order_id(idempotency_key: str) -> str:
    return CLIENT_ID_PREFIX + idempotency_key[:32]


@dataclass(frozen=True)
class Fill:
    order_id: str
    client_order_id: str
    side: Side
    price: Decimal
    filled_qty: Decimal
    fee: Decimal
    fee_asset: str

    @classmethod
    def from_report(cls, report: OrderReport) -> Fill:
        """The fill a venue reports."""
        return cls(
            report.order_id,
            report.client_order_id,
            report.side,
            report.avg_price,
            report.filled_qty,
            report.fee,
            report.fee_asset,
        )

    @classmethod
    def of(cls, trade: Trade) -> Fill:
        """The fill a ledger row records."""
        side: Side = "SELL" if trade.side == "SELL" else "BUY"
        return cls(
            trade.order_id or "",
            trade.client_order_id or "",
            side,
            trade.price,
            trade.qty,
            trade.fee,
            trade.fee_asset,
        )


@dataclass(frozen=True)
class OrderIntent:
    """A checked order, ready to be persisted and sent."""

    side: Side
    qty: Decimal
    idempotency_key: str
    client_order_id: str
    trace_id: str | None
    max_cost: Decimal | None  # a BUY sized in the quote asset: spend at most this

    @classmethod
    def of(cls, order: Order) -> OrderIntent:
        """The intent an orders row records."""
        side: Side = "SELL" if order.side == "SELL" else "BUY"
        return cls(
            side,
            order.qty,
            order.idempotency_key,
            order.client_order_id,
            order.trace_id,
            order.max_cost,
        )

    def row(self, ts: datetime, symbol: str) -> Row:
        return intent_row(
            ts=ts,
            symbol=symbol,
            side=self.side,
            qty=self.qty,
            client_order_id=self.client_order_id,
            idempotency_key=self.idempotency_key,
            trace_id=self.trace_id,
            max_cost=self.max_cost,
        )


class TradeTool:
    def __init__(
        self,
        venue: Venue,
        db: Database,
        clock: Clock,
        *,
        cap: CapRule,
        limit: PositionLimit,
        lookup: RetryPolicy = ORDER_LOOKUP,
        run_id: str | None = None,
    ) -> None:
        self.venue = venue
        self.cap = cap
        self.limit = limit
        self.run_id = run_id
        self._db = db
        self._clock = clock
        self._lookup = lookup
        self._base = split_symbol(venue.symbol)[0]

    def intend(
        self, side: Side, qty: Decimal, idem_key: str, *, trace_id: str | None = None
    ) -> OrderIntent:
        """Quantize and enforce the rules, the position limit and the cap; raises before
        anything is written."""
        rules = self.venue.rules
        quantity = rules.round_amount_down(qty)
        price = self.venue.market.last_price()
        if problems := rules.violations(quantity, price):
            raise RejectedByRules(f"{side} {qty} {self.venue.symbol}: " + "; ".join(problems))
        account = self.venue.account()
        smallest = rules.smallest_valid_qty(price)
        if problem := self.limit.violation(account, price, side, quantity, smallest):
            raise RejectedByRules(problem + "; nothing was sent")
        max_cost = None
        if self.cap.enforced:
            if problem := self.cap.violation(account.held(self._base), price, side, quantity):
                raise CapExceeded(problem + "; nothing was sent")
            if side == "BUY":
                max_cost = (quantity * price).quantize(QUOTE_QUANTUM, rounding=ROUND_DOWN)
        return OrderIntent(side, quantity, idem_key, client_order_id(idem_key), trace_id, max_cost)

    def place_market_order(
        self, side: Side, qty: Decimal, idem_key: str, *, trace_id: str | None = None
    ) -> Fill:
        """Intend, persist, send and book one order now (each step in its own commit)."""
        booked = trade_by_key(self._db, idem_key)
        if booked is not None:
            return Fill.of(booked)
        existing = order_by_client_id(self._db, client_order_id(idem_key))
        if existing is not None:
            intent = OrderIntent.of(existing)
        else:
            intent = self.intend(side, qty, idem_key, trace_id=trace_id)
            self._db.write([], once=[intent.row(self._clock.now(), self.venue.symbol)])
        outcome = AuditBuffer()
        try:
            return self.execute(intent, outcome)
        finally:
            outcome.flush(self._db)

    def execute(self, intent: OrderIntent, sink: AuditBuffer) -> Fill:
        """Send a persisted intent at most once more and resolve it. What came of it (the trade,
        the order's final status) goes to `sink`, for the caller's commit."""
        booked = trade_by_key(self._db, intent.idempotency_key)
        if booked is not None:
            return Fill.of(booked)
        cid = intent.client_order_id
        order = order_by_client_id(self._db, cid)
        if order is None:
            raise TradeError(f"order {cid} was never persisted; refusing to send it")
        if order.status == "REJECTED":
            raise RejectedByRules(order.error or f"order {cid} was refused")
        if order.status != "NEW":  # it may be at the venue already: ask before anything
            found = self._look_up(cid)
            if found is not None:
                return self._settle(found, intent, sink)
            self._resend_or_give_up(order, sink)
        sent = self._clock.now()
        mark_order(self._db, cid, "PENDING", sent, sent=True)
        failpoint("sent")
        try:
            report = self.venue.create_market_order(
                intent.side, intent.qty, cid, max_cost=intent.max_cost
            )
        except OrderOutcomeUnknown as unknown:
            found = self._look_up(cid)
            if found is None:
                self._unknown(
                    cid,
                    sent,
                    f"{unknown}; not found by client id after {self._lookup.attempts} lookups, "
                    "left UNKNOWN, to be looked up again (not resent)",
                )
            report = found
        except TradeError as error:  # a refusal the venue proved
            sink.then(order_update(cid, "REJECTED", self._clock.now(), error=describe(error)))
            raise
        failpoint("filled")
        return self._settle(report, intent, sink)

    def cancel_all(self) -> int:
        return self.venue.cancel_all()

    def pre_trade_check(self, side: Side, qty: Decimal) -> dict[str, Any]:
        """What the Judge needs: the qty on the step, its notional, every rule, limit or cap
        violation, and the largest and smallest quantities that would pass."""
        rules, price = self.venue.rules, self.venue.market.last_price()
        account = self.venue.account()
        held = account.held(self._base)
        rounded = rules.round_amount_down(qty)
        smallest = rules.smallest_valid_qty(price)
        violations = rules.violations(qty, price)
        for problem in (
            self.limit.violation(account, price, side, rounded, smallest),
            self.cap.violation(held, price, side, rounded),
        ):
            if problem:
                violations.append(problem)
        ceiling = self.limit.max_qty(account, price, side, smallest)
        under_cap = self.cap.max_buy(held, price) if side == "BUY" else None
        if under_cap is not None:
            ceiling = min(ceiling, under_cap)
        # The side, qty and cap settings are in the Judge's call and context already.
        return {
            "qty_on_step": decimal_to_text(rounded),
            "price": decimal_to_text(price),
            "notional": decimal_to_text(rounded * price),
            "violations": violations,
            "min_valid_qty": decimal_to_text(smallest),
            "max_valid_qty": decimal_to_text(rules.round_amount_down(ceiling)),
            "held_base": decimal_to_text(held),
        }

    def held(self) -> Decimal:
        """The base asset the venue says the account holds."""
        return self.venue.account().held(self._base)

    def _look_up(self, client_id: str) -> OrderReport | None:
        retrying = Retrying(
            stop=stop_after_attempt(self._lookup.attempts),
            wait=self._lookup.wait(),
            retry=retry_if_result(lambda found: found is None)
            | retry_if_exception_type(VenueUnavailable),
            retry_error_callback=lambda _state: None,
            sleep=self._lookup.sleep,
        )
        found: OrderReport | None = retrying(self.venue.find_order, client_id)
        return found

    def _resend_or_give_up(self, order: Order, sink: AuditBuffer) -> None:
        """A sent order the venue's lookups do not show. Its absence proves nothing until the
        venue's lookup lag has passed since it was sent (resending sooner could execute it
        twice: a client id is unique only among open orders); after that it never executed,
        and it is sent again if it has a send left (see MAX_SENDS), else marked REJECTED."""
        unseen = self._clock.now() - order.updated_ts  # a sent order's updated_ts: its last send
        cid = order.client_order_id
        if unseen < self.venue.lookup_lag:
            self._unknown(
                cid,
                order.updated_ts,
                f"not found by client id {unseen.total_seconds():.0f}s after it was sent; "
                "lookups can lag, so it stays UNKNOWN and is looked up again later (not resent)",
            )
        if order.sends >= MAX_SENDS and self.venue.lookup_lag:
            error = (
                f"not found by client id {unseen} after the last of {order.sends} sends: "
                "never executed"
            )
            sink.then(order_update(cid, "REJECTED", self._clock.now(), error=error))
            raise RejectedByRules(error)

    def _unknown(self, cid: str, sent: datetime, why: str) -> NoReturn:
        """Mark the order UNKNOWN now (its own commit: the cycle stays open until it resolves),
        keeping its last send time as updated_ts, and raise."""
        mark_order(self._db, cid, "UNKNOWN", sent, error=why)
        raise OrderOutcomeUnknown(why)

    def _settle(self, report: OrderReport, intent: OrderIntent, sink: AuditBuffer) -> Fill:
        """Book what the venue reports (to `sink`): a fill goes to the ledger once; an order
        accepted to fill later raises OrderPending; nothing filled is a refusal the caller sees."""
        now = self._clock.now()
        if report.status == "OPEN" and report.filled_qty <= 0:
            raise OrderPending(
                f"order {report.client_order_id} is accepted and fills at "
                f"{report.ts:%Y-%m-%d %H:%M}",
                until=max(report.ts, now),
            )
        if report.filled_qty <= 0:
            error = (
                f"the venue filled nothing of order {report.client_order_id} "
                f"(status {report.status})"
            )
            sink.then(
                order_update(
                    report.client_order_id,
                    "REJECTED",
                    now,
                    venue_order_id=report.order_id,
                    error=error,
                )
            )
            raise RejectedByRules(error)
        sink.append_once(
            fill_row(
                report,
                idempotency_key=intent.idempotency_key,
                trace_id=intent.trace_id,
                run_id=self.run_id,
            )
        )
        sink.then(
            order_update(report.client_order_id, "FILLED", now, venue_order_id=report.order_id)
        )
        return Fill.from_report(report)
