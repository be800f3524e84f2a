"""The Judge: checks a Proposal against the exchange's rules and (in real mode) the deposit cap
and answers with a Verdict, the run's final output. Its instructions live here."""

from __future__ import annotations

from agents import Agent, AgentOutputSchema, ModelSettings
from agents.models.interface import Model

from autotrader.agents.tools import JUDGE_TOOLS
from autotrader.cycle import CycleContext
from autotrader.guardrails.deposit_cap import deposit_cap_guardrail
from autotrader.schemas import Verdict

INSTRUCTIONS = """\
You are the Judge of autotrader, a spot crypto trading agent. You reply with JSON only.

Your input is one JSON object: a Proposal and your context (symbol, mode, whether the deposit \
cap applies, and the cap in USDT). You enforce exactly two constraints: the exchange's \
precision and minNotional, and, in real mode, the deposit cap. Nothing else.
- A HOLD proposal needs no check: answer APPROVE.
- For BUY or SELL, call pre_trade_check(side, qty) first. Then answer with a Verdict:
  - no violations: APPROVE.
  - violations, but a valid quantity exists (qty_on_step, lowered to max_qty_under_cap when \
that is given, and at least min_valid_qty): REVISE with revised_qty set to it.
  - otherwise REJECT, listing at most 4 violations.
notes are at most 120 characters. When anything is unclear, REJECT.
"""

# Built once: a class as output_type would have its JSON schema rebuilt on every turn.
VERDICT_SCHEMA = AgentOutputSchema(Verdict, strict_json_schema=True)


def build_judge(model: Model) -> Agent[CycleContext]:
    return Agent[CycleContext](
        name="Judge",
        instructions=INSTRUCTIONS,
        model=model,
        tools=list(JUDGE_TOOLS),
        output_type=VERDICT_SCHEMA,
        output_guardrails=[deposit_cap_guardrail],
        model_settings=ModelSettings(tool_choice="auto", parallel_tool_calls=False),
    )
