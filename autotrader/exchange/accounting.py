"""Average-cost books of one spot position: pure arithmetic on Decimals.

The cost basis is exactly the quote asset paid for what is held. A SELL releases the average
cost of the base it gives up and realizes the difference to the quote it receives. The fee is
paid in the quote asset (the paper venue, Binance sells) or in the base asset (Binance buys).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

ZERO = Decimal(0)


@dataclass(frozen=True)
class Books:
    base: Decimal
    quote: Decimal
    position_cost: Decimal
    realized_pnl: Decimal


def apply_fill(
    books: Books,
    side: Literal["BUY", "SELL"],
    qty: Decimal,
    price: Decimal,
    fee: Decimal,
    fee_in_quote: bool = True,
) -> Books:
    notional = qty * price
    quote_fee, base_fee = (fee, ZERO) if fee_in_quote else (ZERO, fee)
    if side == "BUY":
        paid = notional + quote_fee
        return Books(
            base=books.base + qty - base_fee,
            quote=books.quote - paid,
            position_cost=books.position_cost + paid,
            realized_pnl=books.realized_pnl,
        )
    given_up = qty + base_fee
    released = books.position_cost * given_up / books.base if books.base > 0 else ZERO
    received = notional - quote_fee
    return Books(
        base=books.base - given_up,
        quote=books.quote + received,
        position_cost=books.position_cost - released,
        realized_pnl=books.realized_pnl + received - released,
    )
