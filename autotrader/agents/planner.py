"""The Planner: picks this cycle's strategies, exploration and wakeup, and hands off to the
Trader with a Plan. Its instructions live here and nowhere else."""

from __future__ import annotations

from agents import Agent, Handoff, ModelSettings
from agents.models.interface import Model

from autotrader.agents.reasoning import reasoning
from autotrader.cycle import CycleContext

INSTRUCTIONS = """\
You are the Planner of a spot crypto agent that learns from its experiments; answer only by \
calling transfer_to_trader with a Plan. arms: per strategy, its params and the posterior mean \
and sd of its net return per experiment. regime.vol_ratio: short- over long-term volatility.
- strategies: 1 to 3 arms {policy_id, params}, best first; the first is this cycle's experiment.
- explore_ratio: with this chance take the first by Thompson sampling, else the highest mean; \
lower it as evidence grows.
- mode: OBSERVE if vol_ratio is above 2.5 or data is missing, else TRADE.
- next_wakeup_secs: a multiple of timeframe_secs, 30 to 3600: one candle if vol_ratio is above \
1.5, up to eight when quiet.
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
