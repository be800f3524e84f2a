"""What each agent is given: the Planner's brief (regime features of the latest closed candles,
the arms' expected net rewards the choice reads and the research state by regime, the
account, the latest weekly evaluation) and the handoff filters that replace the Trader's and the
Judge's input with one JSON message (the plan or proposal, and the context that agent needs:
the Trader's sizing follows the volatility target, or the smallest order on a probe)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from agents import HandoffInputData

from autotrader.cycle import CycleContext
from autotrader.db.types import decimal_to_text
from autotrader.exchange.base import MarketData
from autotrader.research.lab import is_probe
from autotrader.research.regime import shock
from autotrader.research.sizing import position_fraction
from autotrader.schemas import SAFE_PLAN, SAFE_PROPOSAL, compact, to_payload
from autotrader.tools.portfolio import account_view, sizing_view
from autotrader.tools.strategy import compute_indicators, finite, volatility

REGIME_CANDLES = 100
VOL_CANDLES = 20  # the volatility the position size is scaled by
RECENT_CANDLES = 3  # what the Trader's get_ohlcv shows; the indicators read ohlcv_limit candles
# What the Planner is told of the regime and the account (the rest is the Trader's).
REGIME_FIELDS = (
    "close", "rsi_14", "trend", "volatility_20", "volume_ratio", "vol_ratio", "shock",
)  # fmt: skip
ACCOUNT_FIELDS = ("equity", "position_value", "base_held", "quote_free")  # also the Trader's


def regime_features(market: MarketData, timeframe: str) -> dict[str, Any]:
    """A few indicators of the latest closed candles, with vol_ratio: short-term (20) over
    long-term (99 candles) volatility, and shock: the largest move of the last 3 candles in
    units of the last 99 candles' volatility (research/regime.py)."""
    candles = market.ohlcv(timeframe, REGIME_CANDLES)
    features: dict[str, Any] = compute_indicators([list(c) for c in candles])
    long_term = volatility([c.close for c in candles], REGIME_CANDLES - 1)
    short_term = features["volatility_20"]
    features["vol_ratio"] = (
        finite(short_term / long_term) if short_term is not None and long_term else None
    )
    features["shock"] = shock([c.close for c in candles])
    regime: dict[str, Any] = compact({name: features[name] for name in REGIME_FIELDS}, 6)
    return regime


def planner_brief(cycle: CycleContext, weekly_evaluation: Any | None) -> dict[str, Any]:
    settings, deps = cycle.settings, cycle.deps
    account = account_view(settings.symbol, cycle.account(), deps.books.current(), cycle.price)
    return {
        "now": cycle.now.isoformat(),
        "symbol": settings.symbol,
        "timeframe_secs": settings.timeframe_seconds,
        "mode": settings.mode,
        "regime": regime_features(deps.venue.market, settings.timeframe),
        "arms": cycle.research.arms(),
        "research": cycle.research.state(),
        "account": _fields(account),
        "weekly_evaluation": weekly_view(weekly_evaluation),
    }


def weekly_view(evaluation: dict[str, Any] | None) -> dict[str, Any] | None:
    """The latest weekly evaluation as the Planner reads it: the week's result against buy &
    hold, at four significant digits (the arms' evidence is in their posteriors)."""
    if evaluation is None:
        return None
    view = {
        "week": f"{evaluation['period_start'][:10]}..{evaluation['period_end'][:10]}",
        "return": evaluation.get("return"),
        "buy_and_hold": evaluation.get("buy_and_hold"),
        "max_drawdown": evaluation.get("max_drawdown"),
        "trades": evaluation.get("trades"),
        "best_arm": evaluation.get("best_arm_by_posterior"),
    }
    result: dict[str, Any] = compact(view, 4)
    return result


def _fields(account: dict[str, str]) -> dict[str, str]:
    return {name: account[name] for name in ACCOUNT_FIELDS}


def brief_text(message: dict[str, Any]) -> str:
    """A brief as the model reads it: JSON without spaces after its separators (the tools'
    results are sent so too): the same content in about a tenth fewer characters."""
    return json.dumps(message, separators=(",", ":"))


def _brief(data: HandoffInputData, message: dict[str, Any]) -> HandoffInputData:
    """The next agent's whole input: one JSON user message (the history stays in the result)."""
    return data.clone(
        input_history=({"role": "user", "content": brief_text(message)},),
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
    account = cycle.account()  # the state the Planner saw
    closes = [c.close for c in deps.venue.market.ohlcv(settings.timeframe, VOL_CANDLES + 1)]
    sizing = sizing_view(
        deps.venue.rules,
        account,
        cycle.price,
        order_fraction=position_fraction(
            settings.order_fraction, volatility(closes, VOL_CANDLES), settings.timeframe_seconds
        ),
        cap=deps.trade.cap,
    )
    probe = is_probe(cycle.plan, cycle.research.best)
    if probe:  # the smallest order the exchange takes
        sizing["buy_qty_to_target"] = sizing["min_valid_qty"]
        sizing["target_position_value"] = decimal_to_text(
            Decimal(sizing["min_valid_qty"]) * cycle.price
        )
    context = {
        "symbol": settings.symbol,
        "timeframe": settings.timeframe,
        "ohlcv_limit": settings.ohlcv_limit,
        "recent_candles": RECENT_CANDLES,
        "mode": settings.mode,
        "probe": probe,
        "account": _fields(
            account_view(settings.symbol, account, deps.books.current(), cycle.price)
        ),
        "sizing": sizing,
    }
    plan = to_payload(cycle.plan or SAFE_PLAN)  # what the Trader acts on: the mode, the ranking
    return _brief(
        data, {"plan": {"mode": plan["mode"], "strategies": plan["strategies"]}, "context": context}
    )


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
