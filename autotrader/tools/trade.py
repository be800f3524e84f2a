"""The trade tool: market orders that are placed at most once, within the rules and the cap.

`place_market_order` quantizes to the step, enforces minNotional and (in real mode) the deposit
cap before anything is sent, persists the client order id, then sends. The same idempotency key
never makes a second order: the ledger and then the venue (by client id) are asked first. After a
timeout the outcome is unknown, not failed: the order is looked up, never blindly resent.
Everything that reaches the caller is a TradeError subclass.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from tenacity import (
    Retrying,
    retry_if_exception_type,
    retry_if_result,
    stop_after_attempt,
)

from autotrader.clock import Clock
from autotrader.config import split_symbol
from autotrader.db import Database
from autotrader.db.models import Trade
from autotrader.db.types import decimal_to_text
from autotrader.errors import (
    CapExceeded,
    OrderOutcomeUnknown,
    RejectedByRules,
    TradeError,
    VenueUnavailable,
)
from autotrader.exchange.base import OrderReport, Side, Venue
from autotrader.exchange.ccxt_calls import RetryPolicy
from autotrader.tools.cap import CapRule
from autotrader.tools.ledger import (
    log_fill,
    mark_order,
    order_by_client_id,
    record_order_intent,
    trade_by_key,
)

ORDER_LOOKUP = RetryPolicy(attempts=4, initial_wait=0.5, max_wait=4.0)
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


class TradeTool:
    def __init__(
        self,
        venue: Venue,
        db: Database,
        clock: Clock,
        *,
        cap: CapRule,
        lookup: RetryPolicy = ORDER_LOOKUP,
        run_id: str | None = None,
    ) -> None:
        self.venue = venue
        self.cap = cap
        self.run_id = run_id
        self._db = db
        self._clock = clock
        self._lookup = lookup
        self._base = split_symbol(venue.symbol)[0]

    def place_market_order(
        self, side: Side, qty: Decimal, idem_key: str, *, trace_id: str | None = None
    ) -> Fill:
        booked = trade_by_key(self._db, idem_key)
        if booked is not None:
            return Fill.of(booked)
        client_id = client_order_id(idem_key)
        if order_by_client_id(self._db, client_id) is not None:
            # A retry of an order already persisted (maybe sent): ask the venue before anything.
            found = self._look_up(client_id)
            if found is not None:
                return self._settle(found, idem_key, trace_id)
        quantity = self._checked(side, qty)
        record_order_intent(
            self._db,
            ts=self._clock.now(),
            symbol=self.venue.symbol,
            side=side,
            qty=quantity,
            client_order_id=client_id,
            idempotency_key=idem_key,
            trace_id=trace_id,
        )
        try:
            report = self.venue.create_market_order(side, quantity, client_id)
        except OrderOutcomeUnknown as unknown:
            found = self._look_up(client_id)
            if found is None:
                mark_order(self._db, client_id, "UNKNOWN", self._clock.now(), error=str(unknown))
                raise OrderOutcomeUnknown(
                    f"{unknown}; not found by client id after {self._lookup.attempts} lookups, "
                    "left UNKNOWN for reconciliation (not resent)"
                ) from None
            report = found
        except TradeError as error:
            mark_order(self._db, client_id, "REJECTED", self._clock.now(), error=str(error))
            raise
        return self._settle(report, idem_key, trace_id)

    def cancel_all(self) -> int:
        return self.venue.cancel_all()

    def pre_trade_check(self, side: Side, qty: Decimal) -> dict[str, Any]:
        """What the Judge needs: the qty on the step, its notional, every rule or cap violation,
        and the largest and smallest quantities that would pass."""
        rules, price = self.venue.rules, self.venue.market.last_price()
        held = self.held()
        rounded = rules.round_amount_down(qty)
        violations = rules.violations(qty, price)
        cap_problem = self.cap.violation(held, price, side, rounded)
        if cap_problem:
            violations.append(cap_problem)
        ceiling = self.cap.max_buy(held, price) if side == "BUY" else None
        largest = None if ceiling is None else rules.round_amount_down(ceiling)
        return {
            "side": side,
            "qty": decimal_to_text(qty),
            "qty_on_step": decimal_to_text(rounded),
            "price": decimal_to_text(price),
            "notional": decimal_to_text(rounded * price),
            "violations": violations,
            "min_valid_qty": decimal_to_text(rules.smallest_valid_qty(price)),
            "max_qty_under_cap": None if largest is None else decimal_to_text(largest),
            "cap_enforced": self.cap.enforced,
            "deposit_cap_usdt": decimal_to_text(self.cap.cap),
            "held_base": decimal_to_text(held),
        }

    def _checked(self, side: Side, qty: Decimal) -> Decimal:
        """Quantize and enforce rules and cap; raises before anything is persisted or sent."""
        rules = self.venue.rules
        quantity = rules.round_amount_down(qty)
        price = self.venue.market.last_price()
        if problems := rules.violations(quantity, price):
            raise RejectedByRules(f"{side} {qty} {self.venue.symbol}: " + "; ".join(problems))
        # Only a real-mode order needs the holdings (on a live venue, a balance call).
        if self.cap.enforced and (
            problem := self.cap.violation(self.held(), price, side, quantity)
        ):
            raise CapExceeded(problem + "; nothing was sent")
        return quantity

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
        )
        found: OrderReport | None = retrying(self.venue.find_order, client_id)
        return found

    def _settle(self, report: OrderReport, idem_key: str, trace_id: str | None) -> Fill:
        """Book what the venue reports: a fill goes to the ledger once; nothing filled is an
        error the caller sees."""
        now = self._clock.now()
        if report.filled_qty <= 0:
            mark_order(
                self._db,
                report.client_order_id,
                "REJECTED",
                now,
                venue_order_id=report.order_id,
                error=f"venue status {report.status}",
            )
            raise RejectedByRules(
                f"the venue filled nothing of order {report.client_order_id} "
                f"(status {report.status})"
            )
        trade = log_fill(
            self._db,
            report,
            idempotency_key=idem_key,
            trace_id=trace_id,
            run_id=self.run_id,
        )
        mark_order(self._db, report.client_order_id, "FILLED", now, venue_order_id=report.order_id)
        return Fill.of(trade)
