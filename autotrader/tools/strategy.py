"""Indicators and the strategy families' rules: pure functions of closed candles.

Every value is a finite float or None: too few candles, flat prices or zero volume give None,
never NaN, Inf or an exception. RSI follows Wilder (as TA-Lib does): an SMA seed of the first
`period` changes, then Wilder smoothing, clipped to [0, 100].
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, Literal

from autotrader.exchange.candles import Candle
from autotrader.schemas import Breakout, Hold, MaCrossover, RsiMeanReversion, Strategy

Number = float | None


def finite(value: float) -> Number:
    return value if math.isfinite(value) else None


def sma(values: Sequence[float], period: int) -> Number:
    if period <= 0 or len(values) < period:
        return None
    return finite(math.fsum(values[-period:]) / period)


def rsi(closes: Sequence[float], period: int = 14) -> Number:
    if len(closes) < period + 1:
        return None
    changes = [b - a for a, b in pairwise(closes)]
    gain = math.fsum(max(c, 0.0) for c in changes[:period]) / period
    loss = math.fsum(max(-c, 0.0) for c in changes[:period]) / period
    for change in changes[period:]:
        gain = (gain * (period - 1) + max(change, 0.0)) / period
        loss = (loss * (period - 1) + max(-change, 0.0)) / period
    if gain == 0 and loss == 0:
        return None  # flat prices: RSI is undefined, not 0 or 50
    if loss == 0:
        return 100.0
    value = 100.0 - 100.0 / (1.0 + gain / loss)
    return finite(min(100.0, max(0.0, value)))


def volatility(closes: Sequence[float], period: int = 20) -> Number:
    """Sample standard deviation of the last `period` log returns (per candle)."""
    if len(closes) < period + 1 or min(closes[-period - 1 :]) <= 0:
        return None
    returns = [math.log(b / a) for a, b in pairwise(closes[-period - 1 :])]
    mean = math.fsum(returns) / period
    return finite(math.sqrt(math.fsum((r - mean) ** 2 for r in returns) / (period - 1)))


def prior_extremes(candles: Sequence[Candle], lookback: int) -> tuple[Number, Number]:
    """Highest high and lowest low of the `lookback` candles before the newest one."""
    if len(candles) < lookback + 1:
        return None, None
    window = candles[-lookback - 1 : -1]
    return max(c.high for c in window), min(c.low for c in window)


def compute_indicators(ohlcv: Sequence[Sequence[float]]) -> dict[str, Number | int]:
    """The regime and signal inputs every strategy family and the Planner use."""
    candles = [
        Candle(int(t), float(o), float(h), float(low), float(c), float(v))
        for t, o, h, low, c, v, *_ in ohlcv
    ]
    closes = [c.close for c in candles]
    volumes = [c.volume for c in candles]
    ma_20, ma_50 = sma(closes, 20), sma(closes, 50)
    volume_avg = sma(volumes, 20)
    high_20, low_20 = prior_extremes(candles, 20)
    return {
        "candles": len(candles),
        "close": closes[-1] if closes else None,
        "rsi_14": rsi(closes, 14),
        "ma_20": ma_20,
        "ma_50": ma_50,
        "volume_avg_20": volume_avg,
        "volume_ratio": finite(volumes[-1] / volume_avg) if volume_avg else None,
        "high_20": high_20,
        "low_20": low_20,
        "volatility_20": volatility(closes, 20),
        "trend": finite((ma_20 - ma_50) / ma_50) if ma_20 is not None and ma_50 else None,
    }


# --- the families' rules: each names the position it wants (long or flat), or keeps it ---

Stance = Literal["LONG", "FLAT", "KEEP"]


@dataclass(frozen=True)
class Signal:
    stance: Stance
    reason: str
    inputs: dict[str, Any]
    strength: float = 0.0  # 0..1: how far past its threshold the rule is


def _bounded(value: float) -> float:
    return round(min(1.0, max(0.0, value)), 4) if math.isfinite(value) else 0.0


def strategy_signal(strategy: Strategy, candles: Sequence[Candle]) -> Signal:
    """The stance the strategy's rule takes on these closed candles, and why."""
    closes = [c.close for c in candles]

    def sigma() -> float:
        """Recent per-candle volatility, which scales distances so strengths compare across
        regimes (computed only by the rules that report a distance: the shadow books ask every
        arm on every candle)."""
        return volatility(closes, 20) or 0.001

    match strategy:
        case RsiMeanReversion(params=p):
            value = rsi(closes, p.period)
            inputs: dict[str, Any] = {
                "rsi": value,
                "oversold": p.oversold,
                "overbought": p.overbought,
            }
            if value is None:
                return Signal("KEEP", f"RSI({p.period}) undefined on {len(closes)} candles", inputs)
            if value < p.oversold:
                why = f"RSI({p.period}) {value:.1f} < {p.oversold:g}: oversold, expect a rebound"
                return Signal("LONG", why, inputs, _bounded((p.oversold - value) / 10))
            if value > p.overbought:
                why = (
                    f"RSI({p.period}) {value:.1f} > {p.overbought:g}: overbought, expect a pullback"
                )
                return Signal("FLAT", why, inputs, _bounded((value - p.overbought) / 10))
            return Signal("KEEP", f"RSI({p.period}) {value:.1f} inside its bands", inputs)
        case MaCrossover(params=p):
            fast, slow = sma(closes, p.fast), sma(closes, p.slow)
            inputs = {"ma_fast": fast, "ma_slow": slow}
            if fast is None or slow is None:
                return Signal("KEEP", f"MA({p.slow}) needs {p.slow} candles", inputs)
            spread = _bounded(abs(fast / slow - 1) / (3 * sigma()))
            if fast > slow:
                return Signal("LONG", f"MA{p.fast} above MA{p.slow}: uptrend", inputs, spread)
            return Signal("FLAT", f"MA{p.fast} below MA{p.slow}: downtrend", inputs, spread)
        case Breakout(params=p):
            high, low = prior_extremes(candles, p.lookback)
            inputs = {"prior_high": high, "prior_low": low, "close": closes[-1] if closes else None}
            if high is None or low is None:
                return Signal("KEEP", f"breakout needs {p.lookback + 1} candles", inputs)
            if closes[-1] > high:
                why = f"close broke the {p.lookback}-candle high {high:.2f}: momentum up"
                return Signal("LONG", why, inputs, _bounded((closes[-1] / high - 1) / sigma()))
            if closes[-1] < low:
                why = f"close broke the {p.lookback}-candle low {low:.2f}: momentum down"
                return Signal("FLAT", why, inputs, _bounded((1 - closes[-1] / low) / sigma()))
            return Signal("KEEP", f"close inside the {p.lookback}-candle range", inputs)
        case Hold():  # the cash arm: hold no position
            return Signal("FLAT", "cash: hold no position", {})
    raise ValueError(f"unknown strategy {strategy!r}")


def candles_needed(strategy: Strategy) -> int:
    """How many closed candles the rule needs to say anything."""
    match strategy:
        case RsiMeanReversion(params=p):
            return p.period * 3  # Wilder smoothing needs a run-in beyond the seed
        case MaCrossover(params=p):
            return p.slow
        case Breakout(params=p):
            return p.lookback + 1
    return 1
