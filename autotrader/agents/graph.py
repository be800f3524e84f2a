"""The agent graph: Planner -> Trader -> Judge in one Runner.run per cycle.

Built once (agents, handoffs, output schema); each cycle gets a fresh CycleContext. Each handoff
payload is validated strictly by the SDK, captured by on_handoff and logged as a PLANNER or
TRADER decision; the Judge's Verdict (or the logged safe fallback) is the JUDGE decision. They go
to the cycle's audit buffer, which the orchestrator commits (before any order is sent). Handoff
filters give each agent only the payload and its own context. A run that ends on the wrong agent
or type, bad model output, or a tripped deposit-cap guardrail never crashes the loop: the
decision becomes the safest one, logged with why. Provider and venue outages propagate.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from agents import Agent, RunConfig, RunContextWrapper, Runner, handoff
from agents.exceptions import MaxTurnsExceeded, ModelBehaviorError, OutputGuardrailTripwireTriggered

from autotrader.agents.briefs import RECENT_CANDLES, brief_text, judge_input, trader_input
from autotrader.agents.guarded import Contract, GuardedModel, current_cycle
from autotrader.agents.judge import RULE, build_judge, ruled_verdict, verdict_problem
from autotrader.agents.planner import build_planner
from autotrader.agents.providers import ModelSet
from autotrader.agents.trader import build_trader
from autotrader.agents.wire import Action, FinalText, ToolCall
from autotrader.cycle import CycleContext
from autotrader.errors import MAX_REASON_CHARS, describe
from autotrader.schemas import (
    SAFE_PLAN,
    SAFE_PROPOSAL,
    SAFE_VERDICT,
    Payload,
    Plan,
    Proposal,
    Role,
    Verdict,
    final_quantity,
    to_payload,
)
from autotrader.tools.ledger import log_decision

MAX_TURNS = 12  # 5 are needed; the rest is slack for a model that calls extra read tools
MARKET_TOOLS = frozenset({"get_ohlcv", "compute_indicators"})


class WrongFinalAgent(Exception):
    """The run ended on an agent other than the Judge, or without a Verdict."""


@dataclass(frozen=True)
class AgentInfo:
    model: str
    prompt_hash: str


@dataclass
class CycleOutcome:
    plan: Plan
    proposal: Proposal
    verdict: Verdict
    guardrail_violation: str | None = None
    error: str | None = None
    fallbacks: dict[Role, str] = field(default_factory=dict)

    @property
    def executable(self) -> bool:
        """An approved (or revised) BUY/SELL under a TRADE plan, with no guardrail trip."""
        return (
            self.plan.mode == "TRADE"
            and self.proposal.action != "HOLD"
            and self.verdict.decision in ("APPROVE", "REVISE")
            and self.guardrail_violation is None
        )

    @property
    def final_qty(self) -> Decimal:
        return final_quantity(self.proposal, self.verdict)

    @property
    def proposal_decided(self) -> bool:
        """Whether the Trader's own proposal stands (not a fallback, no failed run): only then
        does the cycle teach the research loop anything."""
        return "TRADER" not in self.fallbacks and self.error is None


def prompt_hash(agent: Agent[Any]) -> str:
    """A short hash of what shapes the agent's behaviour besides its model: instructions,
    tools, handoffs and output schema. A change of prompt shows in the decisions table."""
    digest = hashlib.sha256(str(agent.instructions).encode())
    for tool in agent.tools:
        schema = getattr(tool, "params_json_schema", {})
        digest.update(f"{tool.name}{json.dumps(schema, sort_keys=True)}".encode())
    for target in agent.handoffs:
        schema = getattr(target, "input_json_schema", {})
        digest.update(
            f"{getattr(target, 'tool_name', '')}{json.dumps(schema, sort_keys=True)}".encode()
        )
    output = agent.output_type
    if output is not None and hasattr(output, "json_schema"):
        digest.update(json.dumps(output.json_schema(), sort_keys=True).encode())
    return digest.hexdigest()[:12]


def market_seen(ctx: RunContextWrapper[CycleContext], _agent: Agent[Any]) -> bool:
    """The Judge handoff opens only after the Trader called the market and strategy tools."""
    return ctx.context.tools_called >= MARKET_TOOLS


class AgentGraph:
    def __init__(
        self, model_set: ModelSet, max_retries: int, *, deadline_secs: float | None = None
    ) -> None:
        names, efforts = model_set.names, model_set.efforts
        self.deadline_secs = deadline_secs
        judge_contract = Contract(
            "JUDGE",
            {},
            Verdict,
            _judge_fallback,
            final_check=verdict_problem,
            ruled=ruled_verdict,
        )
        self.judge = build_judge(
            GuardedModel(model_set.models["JUDGE"], judge_contract, max_retries),
            efforts.get("JUDGE"),
        )
        to_judge = handoff(
            self.judge,
            input_type=Proposal,
            on_handoff=self._on_proposal,
            input_filter=judge_input,
            is_enabled=market_seen,
        )
        trader_contract = Contract(
            "TRADER",
            {to_judge.tool_name: Proposal},
            None,
            _trader_fallback(to_judge.tool_name),
            disabled_handoff_hint="call get_ohlcv and compute_indicators first",
        )
        self.trader = build_trader(
            GuardedModel(model_set.models["TRADER"], trader_contract, max_retries),
            to_judge,
            efforts.get("TRADER"),
        )
        to_trader = handoff(
            self.trader, input_type=Plan, on_handoff=self._on_plan, input_filter=trader_input
        )
        planner_contract = Contract(
            "PLANNER",
            {to_trader.tool_name: Plan},
            None,
            lambda _handoffs, _cycle: [ToolCall(to_trader.tool_name, to_payload(SAFE_PLAN))],
        )
        self.planner = build_planner(
            GuardedModel(model_set.models["PLANNER"], planner_contract, max_retries),
            to_trader,
            efforts.get("PLANNER"),
        )
        self.info: dict[Role, AgentInfo] = {
            "PLANNER": AgentInfo(names["PLANNER"], prompt_hash(self.planner)),
            "TRADER": AgentInfo(names["TRADER"], prompt_hash(self.trader)),
            "JUDGE": AgentInfo(names["JUDGE"], prompt_hash(self.judge)),
        }
        # No task and turn spans: the agent, model call, tool and handoff spans already make the
        # tree, and the cycle row and model call spans carry the usage those would repeat.
        self._run_config = RunConfig(
            workflow_name="autotrader cycle", tracing={"include_task_and_turn_spans": False}
        )

    async def run(self, cycle: CycleContext, brief: dict[str, Any]) -> CycleOutcome:
        """Run one Planner -> Trader -> Judge chain; every decision is logged, whatever happens."""
        outcome_error: str | None = None
        violation: str | None = None
        verdict: Verdict | None = None
        token = current_cycle.set(cycle)
        try:
            async with asyncio.timeout(self.deadline_secs):
                result = await Runner.run(
                    self.planner,
                    brief_text(brief),
                    context=cycle,
                    max_turns=MAX_TURNS,
                    run_config=self._run_config,
                )
            if result.last_agent is not self.judge:
                raise WrongFinalAgent(f"the run ended on {result.last_agent.name}, not the Judge")
            verdict = result.final_output_as(Verdict, raise_if_incorrect_type=True)
        except OutputGuardrailTripwireTriggered as trip:
            info = trip.guardrail_result.output.output_info or {}
            violation = str(info.get("violation") or "deposit cap exceeded")
            verdict = Verdict(
                decision="REJECT",
                revised_qty=None,
                violations=[f"deposit cap guardrail: {violation}"],
                notes="guardrail tripped; nothing executed",
            )
        except (ModelBehaviorError, MaxTurnsExceeded, WrongFinalAgent, TypeError) as error:
            outcome_error = describe(error, MAX_REASON_CHARS)
        except TimeoutError:  # hung or slow models: the cycle's safest decisions stand in
            outcome_error = (
                f"the models did not finish within CYCLE_DEADLINE_SECS={self.deadline_secs:g}"
            )
        finally:
            current_cycle.reset(token)
        # Every decision the safest answer stood in for is a fallback, with its reason.
        if cycle.plan is None:
            cycle.plan = SAFE_PLAN
            cycle.fallbacks["PLANNER"] = outcome_error or "no plan was handed off"
            self._log(cycle, "PLANNER", SAFE_PLAN, cycle.fallbacks["PLANNER"])
        if cycle.proposal is None:
            cycle.proposal = SAFE_PROPOSAL
            cycle.fallbacks["TRADER"] = outcome_error or "no proposal was handed off"
            self._log(cycle, "TRADER", SAFE_PROPOSAL, cycle.fallbacks["TRADER"])
        reason = cycle.fallbacks.get("JUDGE") or (violation and f"guardrail: {violation}")
        if verdict is None:
            verdict = SAFE_VERDICT
            reason = cycle.fallbacks["JUDGE"] = outcome_error or "no verdict"
        self._log(cycle, "JUDGE", verdict, reason)
        return CycleOutcome(
            cycle.plan, cycle.proposal, verdict, violation, outcome_error, dict(cycle.fallbacks)
        )

    async def _on_plan(self, ctx: RunContextWrapper[CycleContext], plan: Plan) -> None:
        ctx.context.plan = plan
        self._log(ctx.context, "PLANNER", plan, ctx.context.fallbacks.get("PLANNER"))

    async def _on_proposal(self, ctx: RunContextWrapper[CycleContext], proposal: Proposal) -> None:
        ctx.context.proposal = proposal
        self._log(ctx.context, "TRADER", proposal, ctx.context.fallbacks.get("TRADER"))

    def _log(self, cycle: CycleContext, role: Role, payload: Payload, reason: str | None) -> None:
        info = self.info[role]
        if role in cycle.ruled:
            info = AgentInfo(RULE, info.prompt_hash)
        log_decision(
            cycle.audit,
            agent=role,
            payload=payload,
            trace_id=cycle.trace_id,
            ts=cycle.now,
            model=info.model,
            prompt_hash=info.prompt_hash,
            fallback_reason=reason,
        )


def _judge_fallback(_handoffs: set[str], _cycle: CycleContext | None) -> list[Action]:
    return [FinalText(SAFE_VERDICT.model_dump_json())]


def _trader_fallback(to_judge: str) -> Callable[[set[str], CycleContext | None], list[Action]]:
    def fallback(handoffs: set[str], cycle: CycleContext | None) -> list[Action]:
        """HOLD if the Judge handoff is open; else read the market first, as required."""
        if to_judge in handoffs or cycle is None:
            return [ToolCall(to_judge, to_payload(SAFE_PROPOSAL))]
        settings = cycle.settings
        market = {"symbol": settings.symbol, "timeframe": settings.timeframe}
        return [
            ToolCall("get_ohlcv", market | {"limit": RECENT_CANDLES}),
            ToolCall("compute_indicators", market | {"limit": settings.ohlcv_limit}),
        ]

    return fallback
