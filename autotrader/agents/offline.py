"""The offline policy model: a deterministic, seeded decision-maker behind the SDK's Model.

It reads only what an LLM would read (its input items and tool outputs) and answers in the same
wire shapes (function calls, handoff calls, a final JSON message). It is the baseline an LLM
must beat:
- Planner: reads every arm's expected net reward per position over all regimes (the
  shadow research: all arms measured on closed candles, without trading them) and plays the
  best arm with an edge over its round-trip cost, else cash; the arm holding the open position
  keeps it inside a no-trade band. When flat it probes with chance PROBE_RATIO while the cost
  model has fewer than COST_FILLS fills, then after a day without a trade while some arm has an
  edge or the charged cost is above the configured one: arms by Thompson draw, at the smallest
  valid order (fills and costs, not signals). OBSERVE on a shock (a candle of more than
  SHOCK_THRESHOLD recent volatilities) or missing data; it wakes every candle while an arm is
  in play, else by the volatility regime.
- Trader: calls get_ohlcv and compute_indicators at once, then follows the primary strategy's
  stance toward a target position (ORDER_FRACTION of equity, less when volatility runs above
  VOL_TARGET_DAILY; capped in real mode).
- Judge: calls pre_trade_check, then approves, revises to a valid quantity, or rejects.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from functools import partial
from typing import Any

from agents import ModelResponse, Usage
from agents.exceptions import UserError
from agents.models.interface import Model, ModelTracing
from agents.tracing import generation_span

from autotrader.agents.wire import (
    Action,
    FinalText,
    ToolCall,
    Transcript,
    output_items,
    transcript_of,
)
from autotrader.research.arms import family_of
from autotrader.research.choice import CASH, Estimate, choose
from autotrader.research.costs import COST_FILLS
from autotrader.research.regime import SHOCK_THRESHOLD
from autotrader.schemas import HOLD_VERDICT, Plan, Proposal, Role, Verdict, to_payload

HOLD_CONFIDENCE = 0.5
# The chance a flat cycle probes: the smallest real order under an arm, to learn fills and costs
# (the shadow research already knows every arm's signal). Probes are due until the cost model
# holds its COST_FILLS fills; after that fees and spreads drift over days, not candles, so one is
# due only after PROBE_AFTER_HOURS without any trade, and only where a refresh can change a plan
# (see plan_decision): at most about one round trip a day whatever the timeframe (15% of every
# flat 5m cycle cost 0.2% of equity a month).
PROBE_RATIO = 0.15
PROBE_AFTER_HOURS = 24.0


# --- Planner ---


def probe_arms(found: dict[str, Estimate], rng: random.Random) -> list[str]:
    """The arms a probe tries, by Thompson draws from the estimates, best first (cash never: it
    has no fills to learn); the Trader follows the first whose stance trades."""
    draws = {name: rng.gauss(e.mean, e.sd) for name, e in sorted(found.items()) if name != "cash"}
    return sorted(draws, key=lambda name: -draws[name])


def plan_decision(brief: dict[str, Any], seed: int, pinned_arm: str | None = None) -> Plan:
    """Choose the arms to try this cycle, the mode and the next wakeup. `pinned_arm` fixes the
    choice (a single-strategy baseline for the learning benchmark)."""
    rng = random.Random(f"{seed}|{brief['now']}")  # same inputs, same plan: runs are replayable
    arms: dict[str, dict[str, Any]] = brief["arms"]
    research = brief.get("research") or {}
    since_trade = research.get("hours_since_trade")
    costs = research.get("costs") or {}
    fills = costs.get("fills", 0)
    stale = since_trade is None or since_trade >= PROBE_AFTER_HOURS
    explore_ratio = 0.0
    if pinned_arm is not None:
        candidates = [pinned_arm]
    else:
        found = {
            name: Estimate(arm["mean"], arm["sd"], arm["n"], arm.get("n_all", arm["n"]))
            for name, arm in arms.items()
        }
        holding = research.get("holding")
        charged = research["one_way_cost"]
        candidates = choose(found, holding=holding, one_way_cost=charged)
        # A fresh cost model gathers its fills whatever the pick, so the first arm with an edge
        # meets measured costs. Later probes refresh them only where that can change a plan.
        # Costs are never charged below the configured rate, so at that rate a refresh can take
        # an edge away but never give one: in cash it is due only while the charge is above it.
        above_configured = charged > costs.get("configured", charged)
        if fills < COST_FILLS or (stale and (candidates != [CASH] or above_configured)):
            explore_ratio = PROBE_RATIO
        if holding is None and rng.random() < explore_ratio:
            candidates = probe_arms(found, rng)
    # At most one arm per family, so a proposal's policy_id names the strategy followed.
    chosen: list[str] = []
    for name in candidates:
        if len(chosen) < 3 and family_of(name) not in {family_of(arm) for arm in chosen}:
            chosen.append(name)
    strategies = [{"policy_id": family_of(name), "params": arms[name]["params"]} for name in chosen]
    regime = brief.get("regime") or {}
    vol_ratio, shock = regime.get("vol_ratio"), regime.get("shock")
    observe = vol_ratio is None or (shock is not None and shock > SHOCK_THRESHOLD)
    in_play = pinned_arm is None and chosen != ["cash"]
    return Plan.model_validate(
        {
            "mode": "OBSERVE" if observe else "TRADE",
            "explore_ratio": explore_ratio,
            "next_wakeup_secs": brief["timeframe_secs"]
            if in_play
            else wakeup_secs(vol_ratio, brief["timeframe_secs"]),
            "strategies": strategies,
        }
    )


def wakeup_secs(vol_ratio: float | None, candle_secs: int) -> int:
    """Wake every candle when volatility runs hot, up to every 8 candles when it is quiet."""
    if vol_ratio is None:
        candles = 3
    elif vol_ratio > 1.5:
        candles = 1
    elif vol_ratio > 1.0:
        candles = 2
    elif vol_ratio > 0.6:
        candles = 4
    else:
        candles = 8
    return max(30, min(3600, candles * candle_secs))


def planner_policy(
    transcript: Transcript, seed: int, pinned_arm: str | None = None
) -> list[Action]:
    plan = plan_decision(transcript.brief, seed, pinned_arm)
    return [ToolCall(transcript.handoffs[0], to_payload(plan))]


# --- Trader ---


def _move(signal: dict[str, Any], context: dict[str, Any]) -> tuple[str, Decimal] | None:
    """The trade a strategy's stance calls for from where the account stands, if any."""
    sizing = context["sizing"]
    held_value = Decimal(context["account"]["position_value"])
    target = Decimal(sizing["target_position_value"])
    buy, sell_all = Decimal(sizing["buy_qty_to_target"]), Decimal(sizing["sell_all_qty"])
    if signal["stance"] == "LONG" and held_value < target / 2 and buy > 0:
        return "BUY", buy
    if signal["stance"] == "FLAT" and sell_all > 0:
        return "SELL", sell_all
    return None


def trade_decision(brief: dict[str, Any], indicators: dict[str, Any]) -> Proposal:
    """Act on the first strategy of the plan (in its order) whose stance calls for a trade from
    where the account stands; otherwise HOLD under the first strategy."""
    context = brief["context"]
    signals = indicators["strategies"]
    for signal in signals:
        move = _move(signal, context)
        if move is not None:
            action, qty = move
            expectation = "a rise" if action == "BUY" else "a fall"
            return Proposal(
                action=action,
                qty=format(qty, "f"),
                policy_id=signal["policy_id"],
                hypothesis=f"{signal['arm']}: {signal['reason']}; expect {expectation}"[:120],
                confidence=round(HOLD_CONFIDENCE + 0.45 * float(signal["strength"]), 4),
            )
    primary = signals[0]
    return Proposal(
        action="HOLD",
        qty="0",
        policy_id=primary["policy_id"],
        confidence=HOLD_CONFIDENCE,
        hypothesis=f"{primary['arm']}: {primary['reason']}; no trade called for"[:120],
    )


def trader_policy(transcript: Transcript, seed: int) -> list[Action]:
    if not transcript.called("compute_indicators"):
        context = transcript.brief["context"]
        market = {"symbol": context["symbol"], "timeframe": context["timeframe"]}
        return [
            ToolCall("get_ohlcv", market | {"limit": context["recent_candles"]}),
            ToolCall("compute_indicators", market | {"limit": context["ohlcv_limit"]}),
        ]
    indicators = transcript.result("compute_indicators")
    if isinstance(indicators, dict) and indicators.get("strategies"):
        proposal = trade_decision(transcript.brief, indicators)
    else:  # the tool answered with an error: no data, no trade
        proposal = Proposal(
            action="HOLD",
            qty="0",
            policy_id="hold",
            confidence=HOLD_CONFIDENCE,
            hypothesis="market data unavailable this cycle; holding",
        )
    return [ToolCall(transcript.handoffs[0], to_payload(proposal))]


# --- Judge ---


def verdict_decision(proposal: dict[str, Any], check: dict[str, Any]) -> Verdict:
    """Approve a clean order; revise to the nearest valid quantity; reject what cannot pass."""
    violations = [v[:200] for v in check["violations"]]
    if not violations:
        return Verdict(decision="APPROVE", revised_qty=None, violations=None, notes=None)
    candidate = Decimal(check["qty_on_step"])
    if check.get("max_valid_qty") is not None:
        candidate = min(candidate, Decimal(check["max_valid_qty"]))
    if candidate > 0 and candidate >= Decimal(check["min_valid_qty"]):
        return Verdict(
            decision="REVISE",
            revised_qty=format(candidate, "f"),
            violations=violations[:4],
            notes=f"revised {proposal['qty']} to {format(candidate, 'f')} to pass the checks",
        )
    return Verdict(
        decision="REJECT",
        revised_qty=None,
        violations=violations[:4],
        notes="no quantity passes the exchange rules, the position limit and the cap",
    )


def judge_policy(transcript: Transcript, seed: int) -> list[Action]:
    proposal = transcript.brief["proposal"]
    if proposal["action"] == "HOLD":  # as the graph's rule answers it, before any model
        return [FinalText(HOLD_VERDICT.model_dump_json())]
    check = transcript.result("pre_trade_check")
    if not isinstance(check, dict) or "violations" not in check:
        return [ToolCall("pre_trade_check", {"side": proposal["action"], "qty": proposal["qty"]})]
    return [FinalText(verdict_decision(proposal, check).model_dump_json())]


POLICIES: dict[Role, Callable[[Transcript, int], list[Action]]] = {
    "PLANNER": planner_policy,
    "TRADER": trader_policy,
    "JUDGE": judge_policy,
}


class OfflineModel(Model):
    """One role's offline policy as an SDK Model (it opens its own generation span)."""

    def __init__(self, role: Role, seed: int, pinned_arm: str | None = None) -> None:
        self.role = role
        self.seed = seed
        self.name = f"offline-{role.lower()}"
        self._policy = POLICIES[role]
        if role == "PLANNER" and pinned_arm is not None:
            self.name = f"offline-planner[{pinned_arm}]"
            self._policy = partial(planner_policy, pinned_arm=pinned_arm)

    async def get_response(
        self,
        system_instructions: str | None,
        input: str | list[Any],
        model_settings: Any,
        tools: list[Any],
        output_schema: Any,
        handoffs: list[Any],
        tracing: ModelTracing,
        *,
        previous_response_id: str | None,
        conversation_id: str | None,
        prompt: Any,
    ) -> ModelResponse:
        with generation_span(
            model=self.name,
            model_config={"policy": "offline", "seed": self.seed},
            disabled=tracing.is_disabled(),
        ) as span:
            transcript = transcript_of(input, [h.tool_name for h in handoffs])
            turn = 1 if isinstance(input, str) else len(input)
            actions = self._policy(transcript, self.seed)
            output = output_items(actions, f"{self.role.lower()}_{turn}")
            if tracing.include_data():
                span.span_data.input = [{"items": turn, "brief_keys": sorted(transcript.brief)}]
                span.span_data.output = [item.model_dump() for item in output]
            span.span_data.usage = {"input_tokens": 0, "output_tokens": 0}
        return ModelResponse(output=output, usage=Usage(requests=1), response_id=None)

    def stream_response(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        raise UserError("the offline policy model does not stream; use Runner.run")
