"""The deposit cap as an SDK output guardrail on the Judge.

Whatever the Judge decided, it recomputes the exposure of the final quantity (revised or
proposed) at the current price and trips in real mode when it would exceed DEPOSIT_CAP_USDT.
A trip raises from Runner.run; the graph logs it as a JUDGE decision and nothing is executed.
The trade tool's own hard stop remains the last line.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from agents import Agent, GuardrailFunctionOutput, RunContextWrapper, output_guardrail

from autotrader.agents.context import CycleContext
from autotrader.db.types import decimal_to_text
from autotrader.guardrails.cap import cap_violation, exposure_after
from autotrader.schemas import Verdict


@output_guardrail(name="deposit_cap")
async def deposit_cap_guardrail(
    ctx: RunContextWrapper[CycleContext], agent: Agent[Any], verdict: Verdict
) -> GuardrailFunctionOutput:
    cycle = ctx.context
    proposal = cycle.proposal
    settings = cycle.settings
    applies = (
        settings.mode == "real"
        and proposal is not None
        and proposal.action == "BUY"
        and verdict.decision != "REJECT"
    )
    if not applies or proposal is None:
        return GuardrailFunctionOutput(output_info={"applies": False}, tripwire_triggered=False)
    venue = cycle.deps.venue
    qty = Decimal(verdict.revised_qty or proposal.qty)
    price = venue.market.last_price()
    held = venue.account().balances.get(settings.base_asset, Decimal(0))
    cap, buffer = settings.deposit_cap_usdt, settings.cap_price_buffer
    violation = cap_violation(held, price, "BUY", qty, cap, buffer)
    info = {
        "applies": True,
        "qty": decimal_to_text(qty),
        "price": decimal_to_text(price),
        "exposure": decimal_to_text(exposure_after(held, price, "BUY", qty, buffer)),
        "cap": decimal_to_text(cap),
        "violation": violation,
    }
    return GuardrailFunctionOutput(output_info=info, tripwire_triggered=violation is not None)
