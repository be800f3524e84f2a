"""A restless Trader for fault storms: the offline Planner and Judge with a Trader that trades
every cycle it can (sells whatever it holds, else buys), so the order path meets a fault storm
in nearly every cycle rather than one in ten. With `oversize` above 1 it is hostile: it asks to
buy that many times its sizing's quantity, which in real mode the Judge, the cap guardrail and
the trade tool's hard stop must bring back under DEPOSIT_CAP_USDT.
"""

from __future__ import annotations

from decimal import Decimal
from functools import partial
from typing import Any

from autotrader.agents.offline import OfflineModel, trader_policy
from autotrader.agents.providers import ModelSet, build_models
from autotrader.agents.wire import Action, ToolCall, Transcript
from autotrader.config import Settings
from autotrader.schemas import Proposal, Role, to_payload

CONFIDENCE = 0.9


def restless_policy(transcript: Transcript, seed: int, *, oversize: Decimal) -> list[Action]:
    if not transcript.called("compute_indicators"):
        return trader_policy(transcript, seed)  # the market data first, as every Trader must
    indicators: Any = transcript.result("compute_indicators")
    sizing = transcript.brief["context"]["sizing"]
    sell, buy = Decimal(sizing["sell_all_qty"]), Decimal(sizing["buy_qty_to_target"])
    policy_id = indicators["strategies"][0]["policy_id"] if indicators else "hold"
    if sell > 0:
        action, qty = "SELL", sell
    elif buy > 0:
        action, qty = "BUY", buy * oversize
    else:
        action, qty = "HOLD", Decimal(0)
    proposal = Proposal(
        action=action,
        qty=format(qty, "f"),
        policy_id=policy_id,
        hypothesis=f"restless: {action.lower()} whatever the signal says",
        confidence=CONFIDENCE,
    )
    return [ToolCall(transcript.handoffs[0], to_payload(proposal))]


class RestlessTrader(OfflineModel):
    def __init__(self, seed: int, oversize: Decimal) -> None:
        super().__init__("TRADER", seed)
        self.name = "restless-trader" + (f"x{oversize}" if oversize != 1 else "")
        self._policy = partial(restless_policy, oversize=oversize)


def restless_models(settings: Settings, oversize: Decimal = Decimal(1)) -> ModelSet:
    """The offline models with the restless Trader in place of the offline one."""
    base = build_models(settings)
    trader = RestlessTrader(settings.seed, oversize)
    models = {**base.models, "TRADER": trader}
    names: dict[Role, str] = {**base.names, "TRADER": trader.name}
    return ModelSet("offline", models, names, "restless trader")
