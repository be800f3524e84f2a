"""The Judge: checks a Proposal against the exchange's rules and (in real mode) the deposit cap
and answers with a Verdict, the run's final output. Its instructions live here."""

from __future__ import annotations

from decimal import Decimal

from agents import Agent, AgentOutputSchema, ModelSettings
from agents.models.interface import Model

from autotrader.agents.reasoning import reasoning
from autotrader.agents.tools import JUDGE_TOOLS
from autotrader.cycle import CycleContext
from autotrader.guardrails.deposit_cap import deposit_cap_guardrail
from autotrader.schemas import Verdict, parse_quantity

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


def revision_problem(proposed: Decimal, revised: Decimal, smallest: Decimal) -> str | None:
    """A revision satisfies the rules by lowering the quantity, or by raising it to the
    smallest valid one when the proposal is below the exchange's minimum; nothing else."""
    if revised <= proposed or (proposed < smallest and revised == smallest):
        return None
    return (
        f"revised_qty {revised} is above the proposed {proposed}: a REVISE may only lower the "
        f"quantity, or raise it to the smallest valid quantity {smallest} when the proposal "
        "is below it"
    )


def verdict_problem(verdict: Verdict, cycle: CycleContext | None) -> str | None:
    """Why this verdict may not stand in this cycle: an APPROVE or REVISE of an order counts
    only after pre_trade_check of that order, and a revision may not raise the quantity."""
    proposal = None if cycle is None else cycle.proposal
    if cycle is None or proposal is None or proposal.action == "HOLD":
        return None
    if verdict.decision == "REJECT":
        return None
    if (proposal.action, proposal.quantity) not in cycle.checked:
        return (
            f"call pre_trade_check(side={proposal.action}, qty={proposal.qty}) before you "
            f"{verdict.decision} this proposal"
        )
    if verdict.decision == "REVISE" and verdict.revised_qty is not None:
        smallest = cycle.deps.venue.rules.smallest_valid_qty(cycle.price)
        return revision_problem(proposal.quantity, parse_quantity(verdict.revised_qty), smallest)
    return None


# Built once: a class as output_type would have its JSON schema rebuilt on every turn.
VERDICT_SCHEMA = AgentOutputSchema(Verdict, strict_json_schema=True)


def build_judge(model: Model, effort: str | None = None) -> Agent[CycleContext]:
    return Agent[CycleContext](
        name="Judge",
        instructions=INSTRUCTIONS,
        model=model,
        tools=list(JUDGE_TOOLS),
        output_type=VERDICT_SCHEMA,
        output_guardrails=[deposit_cap_guardrail],
        model_settings=ModelSettings(
            tool_choice="auto", parallel_tool_calls=False, reasoning=reasoning(effort)
        ),
    )
