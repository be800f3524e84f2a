"""Numbers as a person writes them, for the console, the dashboard and the report: money with
two decimals and thousands separators, returns as signed percentages, per-trade outcomes in
basis points, quantities without exponent or trailing zeros. None reads as '-'.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

Number = Decimal | float | int
MISSING = "-"


def money(value: Number | None, *, signed: bool = False) -> str:
    """1234.5 -> '1,234.50' (signed: '+1,234.50')."""
    if value is None:
        return MISSING
    return f"{value:+,.2f}" if signed else f"{value:,.2f}"


def pct(value: float | None, digits: int = 2, *, signed: bool = True) -> str:
    """0.0123 -> '+1.23%'."""
    if value is None:
        return MISSING
    return f"{value:+.{digits}%}" if signed else f"{value:.{digits}%}"


def bp(value: float | None) -> str:
    """A per-trade return in basis points: -0.00025 -> '-2.5 bp'."""
    return MISSING if value is None else f"{value * 10_000:+.1f} bp"


def qty(value: Decimal | None) -> str:
    """An exact quantity: Decimal('0.00090') -> '0.0009', never '9E-4'."""
    if value is None:
        return MISSING
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


def points(value: float | None) -> str:
    """A difference of two returns in percentage points: 0.0123 -> '+1.23 pp'."""
    return MISSING if value is None else f"{value * 100:+.2f} pp"


def ratio(value: float | None, digits: int = 2) -> str:
    return MISSING if value is None else f"{value:.{digits}f}"


def share(value: float | None) -> str:
    """A probability or confidence: 0.5672 -> '57%'."""
    return MISSING if value is None else f"{value:.0%}"


def when(moment: datetime | None, *, seconds: bool = False) -> str:
    """'2025-09-29 14:05' (UTC, as every stored time is)."""
    if moment is None:
        return MISSING
    return f"{moment:%Y-%m-%d %H:%M:%S}" if seconds else f"{moment:%Y-%m-%d %H:%M}"


def wakeup(seconds: int | None) -> str:
    """300 -> '5m', 3600 -> '1h', 90 -> '90s'."""
    if seconds is None:
        return MISSING
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    return f"{seconds // 60}m" if seconds % 60 == 0 else f"{seconds}s"


def millis(value: float | None) -> str:
    """A duration in milliseconds: 12.345 -> '12.3 ms', 1534 -> '1.53 s'."""
    if value is None:
        return MISSING
    return f"{value / 1000:.2f} s" if value >= 1000 else f"{value:.1f} ms"


def count(value: int | None) -> str:
    return MISSING if value is None else f"{value:,}"
