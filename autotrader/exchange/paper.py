"""The paper venue: simulated spot fills with real market rules, fees and slippage.

A market order fills completely at its pricer's fill price (the next candle's open in replay,
the order book walked on a live feed) moved against the order by the slippage, and pays the
taker fee in the quote asset. Spot only: it never sells more than it holds. Like an exchange it
keeps balances and fills, not cost basis. They live in the database, written in one transaction
per fill, so a restart resumes exactly; the venue, their only writer, keeps a copy in memory so
reading them costs nothing.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, localcontext

from sqlmodel import col, select

from autotrader.clock import Clock
from autotrader.config import split_symbol
from autotrader.db import Database
from autotrader.db.models import PaperAccount, PaperFill
from autotrader.db.types import decimal_to_text
from autotrader.errors import InsufficientFunds, RejectedByRules
from autotrader.exchange.base import AccountState, FillPricer, MarketData, OrderReport, Side
from autotrader.exchange.rules import MarketRules

FEE_QUANTUM = Decimal("0.00000001")  # Binance reports commissions to 8 decimals


class PaperVenue:
    name = "paper"
    lookup_lag = timedelta(0)  # its book is the database: a lookup sees every fill at once

    def __init__(
        self,
        db: Database,
        market: MarketData,
        pricer: FillPricer,
        rules: MarketRules,
        clock: Clock,
        *,
        start_quote: Decimal,
        fee_rate: Decimal,
        slippage: Decimal,
        account: str = "paper",
    ) -> None:
        self.market = market
        self.rules = rules
        self._pricer = pricer
        self._db = db
        self._clock = clock
        self._fee_rate = fee_rate
        self._slippage = slippage
        self._account = account
        self._base, self._quote = split_symbol(rules.symbol)
        with db.session() as session:
            row = session.get(PaperAccount, account)
            if row is None:
                self._balances = {self._base: Decimal(0), self._quote: start_quote}
                session.add(self._row(self._balances, clock.now()))
            else:
                stored = json.loads(row.balances_json)
                self._balances = {
                    asset: Decimal(stored.get(asset, "0")) for asset in (self._base, self._quote)
                }

    @property
    def symbol(self) -> str:
        return self.rules.symbol

    def account(self) -> AccountState:
        return AccountState(dict(self._balances))

    def create_market_order(
        self, side: Side, qty: Decimal, client_order_id: str, *, max_cost: Decimal | None = None
    ) -> OrderReport:
        existing = self.find_order(client_order_id)
        if existing is not None:
            return existing
        if qty <= 0 or qty != self.rules.round_amount_down(qty):
            raise RejectedByRules(
                f"qty {qty} is not a positive multiple of {self.rules.amount_step}"
            )
        direction = 1 if side == "BUY" else -1
        raw_price = self._pricer.fill_price(side, qty) * (1 + direction * self._slippage)
        price = self.rules.round_price(raw_price)
        if side == "BUY" and max_cost is not None:  # sized in the quote asset, as Binance does
            qty = self.rules.round_amount_down(max_cost / price)
        if problems := self.rules.violations(qty, price):
            raise RejectedByRules("; ".join(problems))
        with localcontext() as context:
            context.rounding = ROUND_HALF_UP
            fee = (qty * price * self._fee_rate).quantize(FEE_QUANTUM)
        now = self._clock.now()
        base, quote = self._balances[self._base], self._balances[self._quote]
        notional = qty * price
        with self._db.session() as session:
            if side == "BUY" and quote < notional + fee:
                raise InsufficientFunds(
                    f"buying {qty} {self._base} at {price} needs {notional + fee:.2f} "
                    f"{self._quote}; the paper account holds {quote:.2f}"
                )
            if side == "SELL" and base < qty:
                raise InsufficientFunds(
                    f"cannot sell {qty} {self._base}: the paper account holds {base} "
                    "(spot only, no shorting)"
                )
            if side == "BUY":
                updated = {self._base: base + qty, self._quote: quote - notional - fee}
            else:
                updated = {self._base: base - qty, self._quote: quote + notional - fee}
            session.merge(self._row(updated, now))
            fill = PaperFill(
                ts=now,
                account=self._account,
                symbol=self.symbol,
                side=side,
                qty=qty,
                price=price,
                fee=fee,
                fee_asset=self._quote,
                client_order_id=client_order_id,
                order_id=f"paper-{client_order_id}",
            )
            session.add(fill)
        self._balances = updated  # only once the transaction has committed
        return _report(fill)

    def find_order(self, client_order_id: str) -> OrderReport | None:
        query = select(PaperFill).where(PaperFill.client_order_id == client_order_id)
        with self._db.session() as session:
            fill = session.exec(query).first()
        return None if fill is None else _report(fill)

    def orders_since(self, since: datetime) -> list[OrderReport]:
        query = (
            select(PaperFill)
            .where(PaperFill.account == self._account, col(PaperFill.ts) >= since)
            .order_by(col(PaperFill.id))
        )
        with self._db.session() as session:
            return [_report(fill) for fill in session.exec(query).all()]

    def cancel_all(self) -> int:
        return 0  # market orders fill at once; nothing rests on the paper book

    def _row(self, balances: dict[str, Decimal], now: datetime) -> PaperAccount:
        stored = {asset: decimal_to_text(amount) for asset, amount in balances.items()}
        return PaperAccount(account=self._account, balances_json=json.dumps(stored), updated_ts=now)


def _report(fill: PaperFill) -> OrderReport:
    side: Side = "BUY" if fill.side == "BUY" else "SELL"
    return OrderReport(
        order_id=fill.order_id,
        client_order_id=fill.client_order_id,
        symbol=fill.symbol,
        side=side,
        status="FILLED",
        filled_qty=fill.qty,
        avg_price=fill.price,
        fee=fill.fee,
        fee_asset=fill.fee_asset,
        ts=fill.ts,
    )
