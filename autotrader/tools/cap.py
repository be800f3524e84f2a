"""The deposit cap rule, one object shared by the trade tool's hard stop, the Judge's guardrail
and the sizing the Trader sees.

Exposure is the value of the base asset held after the order, priced at the current price
raised by a buffer for an adverse fill, so a fill within the buffer cannot breach the cap.
Selling only lowers exposure and is always allowed: de-risking must never be blocked. When the
rule is not enforced (paper and testnet), nothing is ever a violation.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from autotrader.config import Settings
from autotrader.schemas import Side

ZERO = Decimal(0)


@dataclass(frozen=True)
class CapRule:
    enforced: bool
    cap: Decimal
    buffer: Decimal

    @classmethod
    def of(cls, settings: Settings) -> CapRule:
        return cls(settings.cap_enforced, settings.deposit_cap_usdt, settings.cap_price_buffer)

    def exposure_after(self, held: Decimal, price: Decimal, side: Side, qty: Decimal) -> Decimal:
        held_after = held + qty if side == "BUY" else max(ZERO, held - qty)
        return held_after * price * (1 + self.buffer)

    def violation(self, held: Decimal, price: Decimal, side: Side, qty: Decimal) -> str | None:
        """Why the order breaks the cap, or None. Only an enforced BUY can."""
        if not self.enforced or side == "SELL":
            return None
        exposure = self.exposure_after(held, price, side, qty)
        if exposure <= self.cap:
            return None
        return (
            f"exposure {exposure:.2f} USDT after buying {qty} at ~{price} would exceed "
            f"DEPOSIT_CAP_USDT={self.cap}"
        )

    def max_buy(self, held: Decimal, price: Decimal) -> Decimal | None:
        """The largest BUY quantity (before step rounding) within the cap; None if unenforced."""
        if not self.enforced:
            return None
        return max(ZERO, self.cap / (price * (1 + self.buffer)) - held)

    def max_position_value(self) -> Decimal | None:
        """The largest position value a buy may aim for; None if unenforced."""
        return self.cap / (1 + self.buffer) if self.enforced else None
