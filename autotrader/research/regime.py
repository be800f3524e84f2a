"""The market regime of the latest closed candles, as a small stated description.

`regime_of` names one of six cells, trend sign x volatility tercile: `up` when the 50-candle
mean close is above the 200-candle one, else `down`; `low`, `mid` or `high` by where the current
20-candle volatility ranks among its own values over the last 200 candles (bottom, middle or top
third). Too few candles give None (the cell `all`, which pools every regime).

`shock` is the turbulence signal: the largest absolute log return of the last 3 closed candles
over the per-candle volatility of the last 99. A 20- over 99-candle volatility ratio cannot see
one crash candle (it tops out near 2.3), this can: above SHOCK_THRESHOLD = 6, a candle moved
more than six of the recent typical moves. On the shared Binance files that happens on 0.2-0.6%
of candles (fat tails), among them the ETH crash of 2020-03-12 10:00 (8.6) and BTC's banking
crisis dip of 2023-03-09 18:30 on 5m candles (7.5).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

TREND_FAST, TREND_SLOW = 50, 200
VOL_WINDOW, VOL_HISTORY = 20, 200
REGIME_CANDLES = TREND_SLOW + VOL_WINDOW  # the closes `regime_of` needs (it reads no more)
POOLED = "all"  # the pooled cell: every regime together
REGIMES = tuple(f"{trend}-{vol}" for trend in ("up", "down") for vol in ("low", "mid", "high"))
SHOCK_CANDLES, SHOCK_BASELINE = 3, 99
SHOCK_THRESHOLD = 6.0


def regime_of(closes: Sequence[float]) -> str | None:
    """The cell of the newest close: `up-low` ... `down-high`, or None with too few candles."""
    if len(closes) < REGIME_CANDLES or min(closes[-REGIME_CANDLES:]) <= 0:
        return None
    values = np.asarray(closes[-REGIME_CANDLES:], dtype=float)
    trend = "up" if values[-TREND_FAST:].mean() > values[-TREND_SLOW:].mean() else "down"
    returns = np.diff(np.log(values))[-(VOL_HISTORY + VOL_WINDOW - 1) :]
    vols = sliding_window_view(returns, VOL_WINDOW).std(axis=1, ddof=1)  # VOL_HISTORY values
    rank = float(np.mean(vols[:-1] < vols[-1]))
    vol = "low" if rank < 1 / 3 else "high" if rank >= 2 / 3 else "mid"
    return f"{trend}-{vol}"


def shock(closes: Sequence[float]) -> float | None:
    """Largest |log return| of the last 3 candles in units of the last 99 candles' volatility."""
    if len(closes) < SHOCK_BASELINE + 1 or min(closes[-SHOCK_BASELINE - 1 :]) <= 0:
        return None
    returns = np.diff(np.log(np.asarray(closes[-SHOCK_BASELINE - 1 :], dtype=float)))
    baseline = float(returns.std(ddof=1))
    if not baseline > 0:
        return None
    return float(np.max(np.abs(returns[-SHOCK_CANDLES:])) / baseline)
