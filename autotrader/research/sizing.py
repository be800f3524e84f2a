"""Position size from a volatility target, capped by ORDER_FRACTION: a position of fraction f
of equity in an asset of daily volatility v moves equity by about f x v a day; the fraction is
ORDER_FRACTION while that stays under VOL_TARGET_DAILY x ORDER_FRACTION / 0.03, i.e. the
position is cut only when the asset is more volatile than VOL_TARGET_DAILY (3% a day, about
BTC's usual), in proportion. Probes (exploration) buy the exchange's smallest valid quantity.
"""

from __future__ import annotations

import math
from decimal import Decimal

VOL_TARGET_DAILY = 0.03


def position_fraction(
    order_fraction: Decimal, candle_vol: float | None, candle_secs: int
) -> Decimal:
    """ORDER_FRACTION, scaled down when the daily volatility (from the per-candle one) is above
    VOL_TARGET_DAILY; never above ORDER_FRACTION (and the cap still applies to the result)."""
    if candle_vol is None or candle_vol <= 0:
        return order_fraction
    daily = candle_vol * math.sqrt(86400 / candle_secs)
    scale = min(1.0, VOL_TARGET_DAILY / daily)
    return (order_fraction * Decimal(str(round(scale, 4)))).normalize()
