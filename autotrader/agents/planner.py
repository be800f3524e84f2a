"""The Planner: picks this cycle's strategies, exploration and wakeup, and hands off to the
Trader with a Plan. Its instructions live here and nowhere else."""

from __future__ import annotations

from agents import Agent, Handoff, ModelSettings
from agents.models.interface import Model

from autotrader.agents.reasoning import reasoning
from autotrader.cycle import CycleContext

INSTRUCTIONS = """\
You are the Planner of a spot crypto agent; answer only by calling transfer_to_trader with a \
Plan. arms: per strategy, params and expected net return per position in all regimes (mean, \
sd; n positions behind it), measured each candle without trading. \
research: regime (trend sign x volatility tercile), holding (the arm whose position is open), \
picks (favoured arms; cash when none beats its costs), hours_since_trade, one_way_cost (per \
side; costs: configured, or measured from fills when surely higher), regimes (rows of \
regime_columns: the top arms with n positions there, n_all in all regimes).
- strategies: 1-3 arms {policy_id, params}, best first; keep holding first while its mean > \
-one_way_cost; else an arm whose mean beats its sd, else cash (policy hold).
- explore_ratio: chance of a probe when flat and either costs.fills < 20, or hours_since_trade \
is null or >= 24 while (picks is not [cash] or one_way_cost > costs.configured); else 0 \
(first arm not a pick; the Trader buys the smallest valid qty, to learn fills and costs).
- mode: OBSERVE if regime.shock > 6 (a candle moved six recent volatilities) or data is \
missing, else TRADE.
- next_wakeup_secs: a multiple of timeframe_secs, 30-3600: one candle while an arm is in \
play; in cash, one if vol_ratio > 1.5, up to eight when quiet.
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
