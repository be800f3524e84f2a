"""The Planner: picks this cycle's strategies, exploration and wakeup, and hands off to the
Trader with a Plan. Its instructions live here and nowhere else."""

from __future__ import annotations

from agents import Agent, Handoff, ModelSettings
from agents.models.interface import Model

from autotrader.agents.reasoning import reasoning
from autotrader.cycle import CycleContext

INSTRUCTIONS = """\
You are the Planner of a spot crypto agent that learns from its experiments; answer only by \
calling transfer_to_trader with a Plan. arms: per strategy, its params and its expected net \
return per position in the current regime (mean, sd; n positions here, n_all in all regimes), \
measured on every arm each candle without trading it. research: the regime (trend sign x \
volatility tercile), holding (the arm whose position is open), picks (the arms this evidence \
favours, cash when none beats its costs), and each regime's top arms.
- strategies: 1 to 3 arms {policy_id, params}, best first; keep holding first while its mean \
is above -one_way_cost; else an arm whose mean beats its sd, else cash (policy hold).
- explore_ratio: the chance of a probe when flat, a plan whose first arm is not a pick: the \
Trader then buys only the smallest valid quantity, to learn fills and costs.
- mode: OBSERVE if regime.shock is above 6 (a candle moved six recent volatilities) or data \
is missing, else TRADE.
- next_wakeup_secs: a multiple of timeframe_secs, 30 to 3600: one candle while an arm is in \
play; when in cash, one if vol_ratio is above 1.5, up to eight when quiet.
If unsure: OBSERVE, hold, 3600.
"""


def build_planner(
    model: Model,
    to_trader: Handoff[CycleContext, Agent[CycleContext]],
    effort: str | None = None,
) -> Agent[CycleContext]:
    return Agent[CycleContext](
        name="Planner",
        instructions=INSTRUCTIONS,
        model=model,
        handoffs=[to_trader],
        # It must end by handing off: a tool call is required on every turn.
        model_settings=ModelSettings(
            tool_choice="required", parallel_tool_calls=False, reasoning=reasoning(effort)
        ),
        reset_tool_choice=False,
    )
