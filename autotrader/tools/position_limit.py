"""The position limit: what an order may leave the account holding, whatever a model asks.

It holds in every mode (the deposit cap adds its own bound in real mode). A BUY may take the
position's value to at most ORDER_FRACTION of equity, or to the exchange's smallest order when
that is larger, and may cost no more than the quote balance pays for, fee included; a SELL may
sell at most what is held (spot: no shorts). Both bounds allow `TOLERANCE` for the price moving
between the brief the Trader sized from and the order, and for an adverse fill.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from autotrader.config import Settings, split_symbol
from autotrader.exchange.base import AccountState
from autotrader.schemas import Side

ZERO = Decimal(0)
TOLERANCE = Decimal("0.02")


@dataclass(frozen=True)
class PositionLimit:
    symbol: str
    order_fraction: Decimal
    fee_rate: Decimal

    @classmethod
    def of(cls, settings: Settings) -> PositionLimit:
        return cls(settings.symbol, settings.order_fraction, settings.fee_rate)

    def max_qty(
        self, account: AccountState, price: Decimal, side: Side, smallest: Decimal
    ) -> Decimal:
        """The largest quantity (before step rounding) the limit lets this side trade."""
        base, quote = split_symbol(self.symbol)
        held, cash = account.held(base), account.held(quote)
        if side == "SELL":
            return held
        target = max(
            (cash + held * price) * self.order_fraction * (1 + TOLERANCE), smallest * price
        )
        room = max(ZERO, target - held * price) / price
        affordable = cash / (price * (1 + self.fee_rate) * (1 + TOLERANCE))
        return min(room, affordable)

    def violation(
        self,
        account: AccountState,
        price: Decimal,
        side: Side,
        qty: Decimal,
        smallest: Decimal,
    ) -> str | None:
        """Why the order breaks the limit, or None."""
        most = self.max_qty(account, price, side, smallest)
        if qty <= most:
            return None
        base, quote = split_symbol(self.symbol)
        if side == "SELL":
            return f"SELL {qty} {base} is more than the {most} {base} held (no shorts)"
        return (
            f"BUY {qty} {base} at ~{price} is more than {most:.8f} {base}: the position may be "
            f"at most ORDER_FRACTION={self.order_fraction} of equity and cost at most the "
            f"{account.held(quote)} {quote} held"
        )
