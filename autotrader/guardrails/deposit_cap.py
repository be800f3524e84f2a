"""The deposit cap as an SDK output guardrail on the Judge.

Whatever the Judge decided, it asks the trade tool's own cap rule about the final quantity
(revised or proposed) at the current price, and trips when it would exceed DEPOSIT_CAP_USDT
(real mode only: elsewhere the rule is not enforced). A trip raises from Runner.run; the graph
logs it as a JUDGE decision and nothing is executed. The trade tool's hard stop remains the last
line.
"""

from __future__ import annotations

from typing import Any

from agents import Agent, GuardrailFunctionOutput, RunContextWrapper, output_guardrail

from autotrader.cycle import CycleContext
from autotrader.db.types import decimal_to_text
from autotrader.schemas import Verdict, final_quantity


@output_guardrail(name="deposit_cap")
async def deposit_cap_guardrail(
    ctx: RunContextWrapper[CycleContext], agent: Agent[Any], verdict: Verdict
) -> GuardrailFunctionOutput:
    cycle = ctx.context
    proposal, trade = cycle.proposal, cycle.deps.trade
    applies = (
        trade.cap.enforced
        and proposal is not None
        and proposal.action == "BUY"
        and verdict.decision != "REJECT"
    )
    if not applies or proposal is None:
        return GuardrailFunctionOutput(output_info={"applies": False}, tripwire_triggered=False)
    qty = final_quantity(proposal, verdict)
    price = cycle.deps.venue.market.last_price()
    held = trade.held()
    violation = trade.cap.violation(held, price, "BUY", qty)
    info = {
        "applies": True,
        "qty": decimal_to_text(qty),
        "price": decimal_to_text(price),
        "exposure": decimal_to_text(trade.cap.exposure_after(held, price, "BUY", qty)),
        "cap": decimal_to_text(trade.cap.cap),
        "violation": violation,
    }
    return GuardrailFunctionOutput(output_info=info, tripwire_triggered=violation is not None)
