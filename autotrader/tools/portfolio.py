"""The account as the agents see it: balances, position, equity, in Decimal strings."""

from __future__ import annotations

from decimal import Decimal

from autotrader.db.types import decimal_to_text
from autotrader.exchange.base import AccountState, Venue


def account_view(venue: Venue, account: AccountState, price: Decimal) -> dict[str, str]:
    """`account` as read from `venue` (read once by the caller: on a live venue it is a call)."""
    base, quote = venue.symbol.split("/")
    held = account.balances.get(base, Decimal(0))
    cash = account.balances.get(quote, Decimal(0))
    value = held * price
    return {
        "base_asset": base,
        "base_held": decimal_to_text(held),
        "quote_asset": quote,
        "quote_free": decimal_to_text(cash),
        "price": decimal_to_text(price),
        "position_value": decimal_to_text(value),
        "equity": decimal_to_text(cash + value),
        "position_cost": decimal_to_text(account.position_cost),
        "realized_pnl": decimal_to_text(account.realized_pnl),
    }


def sizing_view(
    venue: Venue,
    account: AccountState,
    price: Decimal,
    *,
    order_fraction: Decimal,
    cap: Decimal | None,
    cap_buffer: Decimal,
) -> dict[str, str]:
    """Quantities on the exchange's step for the two moves a strategy can ask for: buying up to
    the target position (ORDER_FRACTION of equity; within the cap when one applies) and selling
    all. "0" where the move would fall below the exchange's minimums."""
    rules = venue.rules
    base, quote = venue.symbol.split("/")
    held = account.balances.get(base, Decimal(0))
    equity = account.balances.get(quote, Decimal(0)) + held * price
    target = equity * order_fraction
    if cap is not None:
        target = min(target, cap / (1 + cap_buffer))
    smallest = rules.smallest_valid_qty(price)
    buy = rules.round_amount_down(max(Decimal(0), target - held * price) / price)
    sell = rules.round_amount_down(held)
    return {
        "target_position_value": decimal_to_text(target),
        "buy_qty_to_target": decimal_to_text(buy if buy >= smallest else Decimal(0)),
        "sell_all_qty": decimal_to_text(sell if not rules.violations(sell, price) else Decimal(0)),
        "min_valid_qty": decimal_to_text(smallest),
    }
