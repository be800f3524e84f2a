"""The account as the agents see it (balances, position, equity, in Decimal strings), the sizing
of the moves a strategy can ask for, and the position's books folded from the ledger.

A venue reports balances; the cost basis and realized PnL of the position are the ledger's
trades of the same account (a memory scope), folded in order: one source for every venue.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Literal

from autotrader.config import split_symbol
from autotrader.db import Database
from autotrader.db.types import decimal_to_text
from autotrader.exchange.accounting import Books, apply_fill
from autotrader.exchange.base import AccountState
from autotrader.exchange.rules import MarketRules
from autotrader.tools.cap import CapRule
from autotrader.tools.ledger import SCOPE_TRADES_AFTER
from autotrader.tools.trade import Fill

ZERO = Decimal(0)


class LedgerBooks:
    """Average-cost books of the traded position, from the ledger's trades of one scope; each
    read folds only the trades booked since the last one. Fills not committed yet (a cycle's
    own, before its commit) can be folded in on top of a read."""

    def __init__(self, db: Database, symbol: str, scope: str) -> None:
        self._db = db
        self._symbol = symbol
        self._scope = scope
        self._quote = split_symbol(symbol)[1]
        self._books = Books(ZERO, ZERO, ZERO, ZERO)
        self._folded_id = 0
        self._folded_orders: set[str] = set()

    def current(self, pending: Sequence[Fill] = ()) -> Books:
        rows = self._db.read(
            SCOPE_TRADES_AFTER, symbol=self._symbol, after_id=self._folded_id, scope=self._scope
        )
        for trade_id, side, qty, price, fee, fee_asset, client_order_id in rows:
            self._books = self._fold(self._books, side, qty, price, fee, fee_asset)
            self._folded_id = trade_id
            if client_order_id:
                self._folded_orders.add(client_order_id)
        books = self._books
        for fill in pending:
            if fill.client_order_id not in self._folded_orders:
                books = self._fold(
                    books, fill.side, fill.filled_qty, fill.price, fill.fee, fill.fee_asset
                )
        return books

    def _fold(
        self, books: Books, side: str, qty: Decimal, price: Decimal, fee: Decimal, fee_asset: str
    ) -> Books:
        taken: Literal["BUY", "SELL"] = "BUY" if side == "BUY" else "SELL"
        return apply_fill(books, taken, qty, price, fee, fee_asset == self._quote)


def holds_position(account: AccountState, rules: MarketRules, price: Decimal) -> bool:
    """Whether the account holds a tradable position (at least the exchange's minimum)."""
    base = split_symbol(rules.symbol)[0]
    return account.held(base) >= rules.smallest_valid_qty(price)


def account_view(
    symbol: str, account: AccountState, books: Books, price: Decimal
) -> dict[str, str]:
    """`account` (read once by the caller: on a live venue it is a call) and its books."""
    base, quote = split_symbol(symbol)
    held, cash = account.held(base), account.held(quote)
    value = held * price
    return {
        "base_asset": base,
        "base_held": decimal_to_text(held),
        "quote_asset": quote,
        "quote_free": decimal_to_text(cash),
        "price": decimal_to_text(price),
        "position_value": decimal_to_text(value),
        "equity": decimal_to_text(cash + value),
        "position_cost": decimal_to_text(books.position_cost),
        "realized_pnl": decimal_to_text(books.realized_pnl),
    }


def sizing_view(
    rules: MarketRules,
    account: AccountState,
    price: Decimal,
    *,
    order_fraction: Decimal,
    cap: CapRule,
) -> dict[str, str]:
    """Quantities on the exchange's step for the two moves a strategy can ask for: buying up to
    the target position (ORDER_FRACTION of equity; within the cap when one applies) and selling
    all. "0" where the move would fall below the exchange's minimums."""
    base, quote = split_symbol(rules.symbol)
    held = account.held(base)
    equity = account.held(quote) + held * price
    target = equity * order_fraction
    ceiling = cap.max_position_value()
    if ceiling is not None:
        target = min(target, ceiling)
    smallest = rules.smallest_valid_qty(price)
    buy = rules.round_amount_down(max(ZERO, target - held * price) / price)
    sell = rules.round_amount_down(held)
    return {
        "target_position_value": decimal_to_text(target),
        "buy_qty_to_target": decimal_to_text(buy if buy >= smallest else ZERO),
        "sell_all_qty": decimal_to_text(sell if not rules.violations(sell, price) else ZERO),
        "min_valid_qty": decimal_to_text(smallest),
    }
