"""The Judge: checks a Proposal against the exchange's rules and (in real mode) the deposit cap
and answers with a Verdict, the run's final output. Its instructions live here."""

from __future__ import annotations

from decimal import Decimal

from agents import Agent, ModelSettings
from agents.models.interface import Model

from autotrader.agents.reasoning import reasoning
from autotrader.agents.schema import FixedOutputSchema
from autotrader.agents.tools import JUDGE_TOOLS
from autotrader.agents.wire import Action, FinalText
from autotrader.cycle import CycleContext
from autotrader.guardrails.deposit_cap import deposit_cap_guardrail
from autotrader.schemas import HOLD_VERDICT, Verdict, parse_quantity

INSTRUCTIONS = """\
You are the Judge of a spot crypto agent; answer with a Verdict, JSON only. First call \
pre_trade_check(side, qty) with the proposal's qty: it checks all you enforce (step, \
minNotional, position limit, the cap if cap_enforced). No violations: APPROVE; else REVISE with \
a revised_qty on the step from min_valid_qty to max_valid_qty (above the proposal's qty only \
to reach min_valid_qty); else REJECT, at most 4 violations. notes: <= 120 characters. If \
unsure, REJECT.
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


RULE = "rule: a HOLD needs no check"  # the model name a ruled verdict is logged under


def ruled_verdict(cycle: CycleContext | None) -> list[Action] | None:
    """A HOLD proposal needs no check and no judgement: APPROVE, without a model call."""
    if cycle is None or cycle.proposal is None or cycle.proposal.action != "HOLD":
        return None
    return [FinalText(HOLD_VERDICT.model_dump_json())]


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
VERDICT_SCHEMA = FixedOutputSchema(Verdict)


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
