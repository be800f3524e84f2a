"""The deposit cap as pure arithmetic, shared by the Judge's guardrail and the trade tool.

Exposure is the value of the base asset held after the order, priced at the current price
raised by a buffer for an adverse fill, so a fill within the buffer cannot breach the cap.
Selling only lowers exposure and is always allowed: de-risking must never be blocked.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

ZERO = Decimal(0)


def exposure_after(
    base_held: Decimal, price: Decimal, side: Literal["BUY", "SELL"], qty: Decimal, buffer: Decimal
) -> Decimal:
    held_after = base_held + qty if side == "BUY" else max(ZERO, base_held - qty)
    return held_after * price * (1 + buffer)


def cap_violation(
    base_held: Decimal,
    price: Decimal,
    side: Literal["BUY", "SELL"],
    qty: Decimal,
    cap: Decimal,
    buffer: Decimal,
) -> str | None:
    """Why the order breaks the cap, or None. Only a BUY can."""
    if side == "SELL":
        return None
    exposure = exposure_after(base_held, price, side, qty, buffer)
    if exposure <= cap:
        return None
    return (
        f"exposure {exposure:.2f} USDT after buying {qty} at ~{price} would exceed "
        f"DEPOSIT_CAP_USDT={cap}"
    )


def max_buy_under_cap(base_held: Decimal, price: Decimal, cap: Decimal, buffer: Decimal) -> Decimal:
    """The largest BUY quantity (before step rounding) that keeps exposure within the cap."""
    return max(ZERO, cap / (price * (1 + buffer)) - base_held)
