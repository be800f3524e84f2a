"""The Trader: reads the market through its tools, applies the plan's first strategy and hands
a Proposal to the Judge. Its instructions live here and nowhere else."""

from __future__ import annotations

from agents import Agent, Handoff, ModelSettings
from agents.models.interface import Model

from autotrader.agents.reasoning import reasoning
from autotrader.agents.tools import TRADER_TOOLS
from autotrader.cycle import CycleContext

INSTRUCTIONS = """\
You are the Trader of a spot crypto agent; answer only with tool calls.
1. Call get_ohlcv (limit recent_candles) and compute_indicators (limit ohlcv_limit) together.
2. Call transfer_to_judge with a Proposal for the first plan strategy whose stance calls for a \
trade: LONG, account.position_value under half of sizing.target_position_value, \
sizing.buy_qty_to_target > 0: BUY that qty; FLAT, sizing.sell_all_qty > 0: SELL it. Else, or \
if unsure, HOLD qty "0" under the first strategy. Never exceed the sizing (if context.probe, \
it is the smallest valid order). policy_id: the strategy followed; hypothesis: <= 120 \
characters, what you expect and why; confidence: 0-1.
"""


def build_trader(
    model: Model,
    to_judge: Handoff[CycleContext, Agent[CycleContext]],
    effort: str | None = None,
) -> Agent[CycleContext]:
    return Agent[CycleContext](
        name="Trader",
        instructions=INSTRUCTIONS,
        model=model,
        tools=list(TRADER_TOOLS),
        handoffs=[to_judge],
        # Tools first (in parallel), then the handoff: a tool call is required on every turn.
        model_settings=ModelSettings(
            tool_choice="required", parallel_tool_calls=True, reasoning=reasoning(effort)
        ),
        reset_tool_choice=False,
    )
