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
from autotrader.db.types import decimal_to_text
from autotrader.exchange.candles import Candle
from autotrader.research.arms import arm_of
from autotrader.research.store import recent_experiments as stored_experiments
from autotrader.schemas import parse_quantity, to_payload
from autotrader.tools import market, strategy
from autotrader.tools.ledger import recent_trades
from autotrader.tools.portfolio import account_view

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
    """Closed OHLCV candles, oldest first: {"ohlcv": [[ts_ms, open, high, low, close, volume]]}.

    Args:
        symbol: the market, e.g. BTC/USDT.
        timeframe: candle size, e.g. 5m.
        limit: how many of the newest closed candles (1..1000).
    """
    ctx.context.tools_called.add("get_ohlcv")
    return _json({"ohlcv": _candles(ctx, symbol, timeframe, limit)})


@function_tool(failure_error_function=_one_line_error)
async def compute_indicators(ctx: Ctx, symbol: str, timeframe: str, limit: int) -> str:
    """Indicators of the newest closed candles (RSI 14, MA 20/50, volume, range, volatility,
    trend; null where undefined) and, for each strategy in the plan, its inputs and the stance
    its rule takes (LONG, FLAT or KEEP) with the reason.

    Args:
        symbol: the market, e.g. BTC/USDT.
        timeframe: candle size, e.g. 5m.
        limit: how many candles to compute on (more are fetched if a strategy needs them).
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
        signals.append(
            {
                **to_payload(chosen),
                "arm": arm_of(chosen),
                "stance": signal.stance,
                "strength": signal.strength,
                "reason": signal.reason,
                "inputs": signal.inputs,
            }
        )
    return _json({"indicators": strategy.compute_indicators(rows[-limit:]), "strategies": signals})


@function_tool(failure_error_function=_one_line_error)
async def get_portfolio(ctx: Ctx) -> str:
    """Balances, position value and cost, equity and realized PnL, plus the last 5 trades."""
    deps = ctx.context.deps
    trades = [
        {
            "ts": t.ts_utc.isoformat(),
            "side": t.side,
            "qty": decimal_to_text(t.qty),
            "price": decimal_to_text(t.price),
            "fee": decimal_to_text(t.fee),
        }
        for t in recent_trades(deps.db, limit=5)
    ]
    account = account_view(
        deps.settings.symbol, deps.venue.account(), deps.books.current(), ctx.context.price
    )
    return _json({"account": account, "recent_trades": trades})


@function_tool(failure_error_function=_one_line_error)
async def get_market_rules(ctx: Ctx) -> str:
    """The exchange's rules for the symbol: amount step, price tick, minimum amount, minNotional."""
    rules = ctx.context.deps.venue.rules
    return _json(
        {
            "symbol": rules.symbol,
            "amount_step": decimal_to_text(rules.amount_step),
            "price_tick": decimal_to_text(rules.price_tick),
            "min_amount": decimal_to_text(rules.min_amount),
            "min_notional": decimal_to_text(rules.min_notional),
        }
    )


@function_tool(failure_error_function=_one_line_error)
async def pre_trade_check(ctx: Ctx, side: Literal["BUY", "SELL"], qty: str) -> str:
    """Check an order against the exchange's precision and minNotional and, in real mode, the
    deposit cap. Returns the qty on the step, the price, every violation, and the smallest and
    (in real mode) largest quantities that would pass.

    Args:
        side: BUY or SELL.
        qty: the quantity in the base asset, as a decimal string.
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


@function_tool(failure_error_function=_one_line_error)
async def read_posteriors(ctx: Ctx) -> str:
    """Per arm (strategy family and parameter bucket): posterior mean and sd of the net return per
    experiment, evidence weight and count, and the arm's preset parameters."""
    return _json({"arms": ctx.context.research.arms()})


@function_tool(failure_error_function=_one_line_error)
async def recent_experiments(ctx: Ctx, limit: int) -> str:
    """The newest experiments (what was tried, why, and the measured outcome when known).

    Args:
        limit: how many, newest first (1..50).
    """
    deps = ctx.context.deps
    rows = stored_experiments(deps.db, deps.scope, limit=max(1, min(limit, 50)))
    return _json(
        {
            "experiments": [
                {
                    "arm": e.arm,
                    "action": e.action,
                    "hypothesis": e.hypothesis,
                    "executed": e.executed,
                    "status": e.status,
                    "reward": e.reward,
                    "entry_ts": e.entry_ts.isoformat(),
                }
                for e in rows
            ]
        }
    )


TRADER_TOOLS: Sequence[FunctionTool] = (get_ohlcv, compute_indicators, get_portfolio)
JUDGE_TOOLS: Sequence[FunctionTool] = (pre_trade_check, get_market_rules)
PLANNER_TOOLS: Sequence[FunctionTool] = (read_posteriors, recent_experiments)
