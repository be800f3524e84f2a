"""The function tools the agents call: SDK wrappers over the tool bodies in autotrader.tools and
the research loop's reads.

Read-only: nothing here places an order (the orchestrator does, after an approved verdict).
Each call is recorded in the cycle context, so the Judge handoff opens only once the Trader has
looked at the market. Errors reach the model as one line it can act on.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import InvalidOperation
from typing import Any, Literal

from agents import FunctionTool, RunContextWrapper, function_tool

from autotrader.cycle import CycleContext
from autotrader.exchange.candles import Candle
from autotrader.research.arms import arm_of
from autotrader.schemas import compact, parse_quantity
from autotrader.tools import market, strategy

Ctx = RunContextWrapper[CycleContext]
MAX_CANDLES = 1000


def _json(value: Any) -> str:
    """Tool results go to the model as text: JSON, not Python's repr."""
    return json.dumps(value, separators=(",", ":"), default=str)


def _one_line_error(_ctx: RunContextWrapper[Any], error: Exception) -> str:
    return f"error: {error}"


def _candles(ctx: Ctx, symbol: str, timeframe: str, limit: int) -> list[list[float]]:
    if not 1 <= limit <= MAX_CANDLES:
        raise ValueError(f"limit must be between 1 and {MAX_CANDLES}, got {limit}")
    rows: list[list[float]] = market.get_ohlcv(
        ctx.context.deps.venue.market, symbol, timeframe, limit
    )["ohlcv"]
    return rows


@function_tool(failure_error_function=_one_line_error)
async def get_ohlcv(ctx: Ctx, symbol: str, timeframe: str, limit: int) -> str:
    """Newest closed candles, oldest first: {"ohlcv": [[ts_ms, o, h, l, c, v]]}.

    Args:
        symbol: e.g. BTC/USDT.
        timeframe: e.g. 5m.
        limit: how many (1..1000).
    """
    ctx.context.tools_called.add("get_ohlcv")
    return _json({"ohlcv": _candles(ctx, symbol, timeframe, limit)})


@function_tool(failure_error_function=_one_line_error)
async def compute_indicators(ctx: Ctx, symbol: str, timeframe: str, limit: int) -> str:
    """Indicators, and each plan strategy's stance (LONG, FLAT or KEEP) and reason.

    Args:
        symbol: e.g. BTC/USDT.
        timeframe: e.g. 5m.
        limit: candles to compute on.
    """
    ctx.context.tools_called.add("compute_indicators")
    plan = ctx.context.plan
    strategies = plan.strategies if plan else []
    needed = max([limit, *(strategy.candles_needed(s) + 1 for s in strategies)])
    rows = _candles(ctx, symbol, timeframe, min(needed, MAX_CANDLES))
    candles = [Candle(int(r[0]), *r[1:6]) for r in rows]
    signals = []
    for chosen in strategies:
        signal = strategy.strategy_signal(chosen, candles)
        signals.append(  # the reason states the rule's inputs; the plan has the params
            {
                "policy_id": chosen.policy_id,
                "arm": arm_of(chosen),
                "stance": signal.stance,
                "strength": signal.strength,
                "reason": signal.reason,
            }
        )
    indicators = strategy.compute_indicators(rows[-limit:])
    return _json(compact({"indicators": indicators, "strategies": signals}, 6))


@function_tool(failure_error_function=_one_line_error)
async def pre_trade_check(ctx: Ctx, side: Literal["BUY", "SELL"], qty: str) -> str:
    """Check an order against the exchange's step and minNotional (and the cap when enforced):
    qty_on_step, price, violations, min_valid_qty, max_qty_under_cap.

    Args:
        side: BUY or SELL.
        qty: base asset quantity, a decimal string.
    """
    try:
        quantity = parse_quantity(qty)
    except (ValueError, InvalidOperation):
        raise ValueError(
            f"qty must be a plain decimal in ASCII digits such as 0.001, got {qty!r}"
        ) from None
    ctx.context.tools_called.add("pre_trade_check")
    ctx.context.checked.add((side, quantity))
    return _json(ctx.context.deps.trade.pre_trade_check(side, quantity))


def _lean(tool: FunctionTool) -> FunctionTool:
    """The tool's parameter schema without titles: they repeat the names, in every request."""

    def strip(schema: Any) -> None:
        if isinstance(schema, dict):
            schema.pop("title", None)
            for value in schema.values():
                strip(value)
        elif isinstance(schema, list):
            for value in schema:
                strip(value)

    strip(tool.params_json_schema)
    return tool


# The Planner has no tools: its brief holds the posteriors, the regime and the account; the
# Trader's brief holds the account.
TRADER_TOOLS: Sequence[FunctionTool] = tuple(map(_lean, (get_ohlcv, compute_indicators)))
JUDGE_TOOLS: Sequence[FunctionTool] = (_lean(pre_trade_check),)  # it reports the rules too
