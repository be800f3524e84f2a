"""The Trader: reads the market through its tools, applies the plan's first strategy and hands
a Proposal to the Judge. Its instructions live here and nowhere else."""

from __future__ import annotations

from agents import Agent, Handoff, ModelSettings
from agents.models.interface import Model

from autotrader.agents.reasoning import reasoning
from autotrader.agents.tools import TRADER_TOOLS
from autotrader.cycle import CycleContext

INSTRUCTIONS = """\
You are the Trader of autotrader, a spot crypto trading agent. You reply with JSON only.

Your input is one JSON object: the Plan and your context (symbol, timeframe, ohlcv_limit, mode, \
account, and sizing: quantities already on the exchange's step).
1. Call get_ohlcv and compute_indicators together, in one turn, with the context's symbol, \
timeframe and ohlcv_limit.
2. Then hand a Proposal to the Judge by calling transfer_to_judge. Never answer with text.
The plan's strategies are ranked. Go through them in order, using the stance that \
compute_indicators reports for each, and act on the first one that calls for a trade:
- LONG, and account.position_value is below half of sizing.target_position_value, and \
sizing.buy_qty_to_target is above 0: BUY sizing.buy_qty_to_target.
- FLAT, and sizing.sell_all_qty is above 0: SELL sizing.sell_all_qty.
If none does, HOLD with qty "0" under the first strategy.
Prefer HOLD whenever the edge is weak or unclear. In real mode trade only tiny quantities: the \
sizing already keeps within the deposit cap; never exceed it.
policy_id is the policy_id of the strategy you followed. qty is a plain decimal string (no \
exponent). hypothesis (at most 120 characters) says what you expect and why. confidence is 0 to 1.
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
