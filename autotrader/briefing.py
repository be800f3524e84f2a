"""The Planner's input: regime features of the latest closed candles, the arms' posteriors,
the account, and the latest weekly evaluation, in one JSON object."""

from __future__ import annotations

from typing import Any

from autotrader.agents.context import CycleContext
from autotrader.agents.tools import posterior_view
from autotrader.tools.market import MarketData
from autotrader.tools.portfolio import account_view
from autotrader.tools.strategy import compute_indicators, finite, volatility

REGIME_CANDLES = 100


def regime_features(market: MarketData, timeframe: str) -> dict[str, Any]:
    """Indicators plus vol_ratio: short-term (20) over long-term (99 candles) volatility."""
    candles = market.ohlcv(timeframe, REGIME_CANDLES)
    features: dict[str, Any] = compute_indicators([list(c) for c in candles])
    long_term = volatility([c.close for c in candles], REGIME_CANDLES - 1)
    short_term = features["volatility_20"]
    features["volatility_100"] = long_term
    features["vol_ratio"] = (
        finite(short_term / long_term) if short_term is not None and long_term else None
    )
    return features


def planner_brief(cycle: CycleContext, weekly_evaluation: Any | None) -> dict[str, Any]:
    settings, venue = cycle.settings, cycle.deps.venue
    return {
        "now": cycle.now.isoformat(),
        "symbol": settings.symbol,
        "timeframe": settings.timeframe,
        "timeframe_secs": settings.timeframe_seconds,
        "mode": settings.mode,
        "regime": regime_features(venue.market, settings.timeframe),
        "arms": posterior_view(cycle),
        "account": account_view(venue, venue.account(), cycle.price),
        "weekly_evaluation": weekly_evaluation,
    }
