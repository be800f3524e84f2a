"""What each agent is given: the Planner's brief (regime features of the latest closed candles,
the arms' posteriors, the account, the latest weekly evaluation) and the handoff filters that
replace the Trader's and the Judge's input with one JSON message (the plan or proposal, and the
context that agent needs)."""

from __future__ import annotations

import json
from typing import Any

from agents import HandoffInputData

from autotrader.cycle import CycleContext
from autotrader.db.types import decimal_to_text
from autotrader.exchange.base import MarketData
from autotrader.schemas import SAFE_PLAN, SAFE_PROPOSAL, to_payload
from autotrader.tools.portfolio import account_view, sizing_view
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
    settings, deps = cycle.settings, cycle.deps
    return {
        "now": cycle.now.isoformat(),
        "symbol": settings.symbol,
        "timeframe": settings.timeframe,
        "timeframe_secs": settings.timeframe_seconds,
        "mode": settings.mode,
        "regime": regime_features(deps.venue.market, settings.timeframe),
        "arms": cycle.research.arms(),
        "account": account_view(
            settings.symbol, deps.venue.account(), deps.books.current(), cycle.price
        ),
        "weekly_evaluation": weekly_evaluation,
    }


def _brief(data: HandoffInputData, message: dict[str, Any]) -> HandoffInputData:
    """The next agent's whole input: one JSON user message (the history stays in the result)."""
    return data.clone(
        input_history=({"role": "user", "content": json.dumps(message)},),
        pre_handoff_items=(),
        input_items=(),
    )


def _cycle(data: HandoffInputData) -> CycleContext:
    assert data.run_context is not None, "handoff filters always get the run context"
    cycle: CycleContext = data.run_context.context
    return cycle


def trader_input(data: HandoffInputData) -> HandoffInputData:
    cycle = _cycle(data)
    settings, deps = cycle.settings, cycle.deps
    account = deps.venue.account()  # once: both views describe the same state
    context = {
        "symbol": settings.symbol,
        "timeframe": settings.timeframe,
        "ohlcv_limit": settings.ohlcv_limit,
        "mode": settings.mode,
        "account": account_view(settings.symbol, account, deps.books.current(), cycle.price),
        "sizing": sizing_view(
            deps.venue.rules,
            account,
            cycle.price,
            order_fraction=settings.order_fraction,
            cap=deps.trade.cap,
        ),
    }
    return _brief(data, {"plan": to_payload(cycle.plan or SAFE_PLAN), "context": context})


def judge_input(data: HandoffInputData) -> HandoffInputData:
    cycle = _cycle(data)
    settings = cycle.settings
    context = {
        "symbol": settings.symbol,
        "mode": settings.mode,
        "cap_enforced": settings.cap_enforced,
        "deposit_cap_usdt": decimal_to_text(settings.deposit_cap_usdt),
    }
    return _brief(
        data, {"proposal": to_payload(cycle.proposal or SAFE_PROPOSAL), "context": context}
    )
