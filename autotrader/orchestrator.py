"""The loop: plan -> propose -> judge -> execute -> log -> sleep, on any clock.

Each cycle runs the weekly evaluator when a week has passed, runs the agent graph in one trace,
executes an approved verdict through the trade tool, marks the portfolio to market, records the
proposal as an experiment, measures the experiments that came due, and commits all of it in one
transaction (decisions go to disk before any order is sent). A cycle that fails (venue down past
its retries, model provider down) is logged and retried after a back-off; only a ConfigError
stops the loop. A stop request ends it after the current cycle.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial
from time import perf_counter

from agents import custom_span, trace

from autotrader.agents.context import CycleContext, Deps
from autotrader.agents.graph import AgentGraph, CycleOutcome
from autotrader.briefing import planner_brief
from autotrader.console import ConsoleView
from autotrader.db import AuditBuffer, Sink
from autotrader.db.models import Cycle
from autotrader.errors import ConfigError, TradeError
from autotrader.exchange.base import AccountState
from autotrader.research.arms import arm_of, best_arm
from autotrader.research.evaluation import evaluate_week, evaluation_due, latest_evaluation
from autotrader.research.outcomes import due_outcomes
from autotrader.runs import log_cycle
from autotrader.schemas import to_payload
from autotrader.tools.ledger import snapshot_portfolio
from autotrader.tools.memory import NewExperiment, apply_outcomes, write_experiment
from autotrader.tools.trade import Fill, Side, make_idem
from autotrader.trace_store import LocalTraceStore

log = logging.getLogger("autotrader")
MAX_BACKOFF_SECS = 900


class StopRequest:
    """Set by the signal handlers; the loop finishes its cycle and leaves."""

    def __init__(self) -> None:
        self.event = asyncio.Event()

    @property
    def requested(self) -> bool:
        return self.event.is_set()

    def request(self) -> None:
        self.event.set()


@dataclass(frozen=True)
class Execution:
    fill: Fill | None = None
    error: str | None = None


def trace_id_for(run_id: str, moment: datetime) -> str:
    """Deterministic per (run, cycle time): a cycle re-run after a crash reuses its trace id,
    hence its idempotency key, so its order can never be placed twice."""
    return "trace_" + hashlib.sha256(f"{run_id}|{moment.isoformat()}".encode()).hexdigest()[:32]


class Orchestrator:
    def __init__(
        self,
        deps: Deps,
        graph: AgentGraph,
        view: ConsoleView,
        stop: StopRequest,
        *,
        run_start: datetime,
        until: datetime | None,
        traces: LocalTraceStore | None = None,
    ) -> None:
        self.deps = deps
        self.graph = graph
        self.view = view
        self.stop = stop
        self.run_start = run_start
        self.until = until
        self._errors_in_a_row = 0
        self._evaluation = latest_evaluation(deps.db, deps.scope)
        self._traces = traces

    async def run(self) -> str:
        """Cycle until the replay ends, `until` passes or a stop is requested."""
        clock = self.deps.clock
        while not self.stop.requested:
            if self.until is not None and clock.now() > self.until:
                return "DONE"
            row = await self.cycle()
            self.view.cycle(row)
            await clock.sleep(row.wakeup_secs, interrupt=self.stop.event)
        return "STOPPED"

    async def cycle(self) -> Cycle:
        deps, settings = self.deps, self.deps.settings
        started, now = perf_counter(), deps.clock.now()
        trace_id = trace_id_for(deps.run_id, now)
        audit = AuditBuffer()  # this cycle's audit rows, committed together
        if self._traces is not None:
            self._traces.route(trace_id, audit)
        try:
            price = deps.venue.market.last_price()
            evaluation = self._weekly(now)
            digest = trace_id.removeprefix("trace_")
            cycle = CycleContext(
                deps,
                trace_id,
                now,
                f"plan_{digest[:16]}",
                f"prop_{digest[:16]}",
                price,
                audit=audit,
            )
            brief = planner_brief(cycle, evaluation)
            metadata = {
                "mode": settings.mode,
                "symbol": settings.symbol,
                "run_id": deps.run_id,
                "cycle_ts": now.isoformat(),
            }
            with trace(
                "autotrader cycle", trace_id=trace_id, group_id=deps.run_id, metadata=metadata
            ):
                outcome = await self.graph.run(cycle, brief)
                with custom_span("execute", {"executable": outcome.executable}):
                    execution = self._execute(cycle, outcome)
            account = deps.venue.account()  # once, after any fill
            was_long = self._is_long(account, price)
            equity = self._snapshot(audit, now, price, account)
            explore = self._record_experiment(cycle, outcome, brief, execution, was_long)
            self._measure(audit, now)
        except ConfigError:
            audit.flush(deps.db)
            raise
        except Exception as error:  # a failed cycle is logged and retried; the loop goes on
            return self._failed(audit, trace_id, now, started, error)
        self._errors_in_a_row = 0
        row = Cycle(
            run_id=deps.run_id,
            trace_id=trace_id,
            cycle_ts=now,
            wall_ts=datetime.now(now.tzinfo),
            status="OK",
            plan_mode=outcome.plan.mode,
            arm=arm_of(outcome.plan.strategies[0]),
            explore=explore,
            action=outcome.proposal.action,
            qty=outcome.proposal.quantity,
            verdict=outcome.verdict.decision,
            executed=execution.fill is not None,
            fill_price=execution.fill.price if execution.fill else None,
            equity=equity,
            wakeup_secs=outcome.plan.next_wakeup_secs,
            model_calls=cycle.model_calls,
            duration_ms=(perf_counter() - started) * 1000,
            fallbacks=len(outcome.fallbacks),
            guardrail=outcome.guardrail_violation,
            error=execution.error or outcome.error,
        )
        log_cycle(audit, row)
        audit.flush(deps.db)
        return row

    def _weekly(self, now: datetime) -> dict[str, object] | None:
        """The latest weekly evaluation, after running a new one when a week has passed."""
        if evaluation_due(self._evaluation, now, self.run_start):
            self._evaluation = evaluate_week(
                self.deps.db,
                run_id=self.deps.run_id,
                scope=self.deps.scope,
                now=now,
                run_start=self.run_start,
                latest=self._evaluation,
                half_life_secs=self.deps.settings.posterior_half_life_hours * 3600,
            )
        return self._evaluation

    def _measure(self, audit: AuditBuffer, now: datetime) -> None:
        """Outcomes due by now, committed with the cycle (the next Planner sees them)."""
        settings = self.deps.settings
        outcomes = due_outcomes(
            self.deps.db,
            self.deps.venue.market,
            scope=self.deps.scope,
            timeframe=settings.timeframe,
            step_ms=settings.timeframe_seconds * 1000,
            now=now,
            one_way_cost=float(settings.fee_rate + settings.slippage),
        )
        if outcomes:
            half_life = settings.posterior_half_life_hours * 3600
            audit.then(
                partial(apply_outcomes, outcomes=outcomes, now=now, half_life_secs=half_life)
            )

    def _execute(self, cycle: CycleContext, outcome: CycleOutcome) -> Execution:
        """Place the approved order through the trade tool; a refusal is logged, not fatal."""
        if not outcome.executable:
            return Execution()
        side: Side = "BUY" if outcome.proposal.action == "BUY" else "SELL"
        qty = Decimal(outcome.verdict.revised_qty or outcome.proposal.qty)
        settings = self.deps.settings
        key = make_idem(cycle.trace_id, cycle.now, settings.symbol, side, qty, cycle.price)
        cycle.audit.flush(self.deps.db)  # the decisions behind an order are on disk before it
        try:
            fill = self.deps.trade.place_market_order(
                side, qty, key, trace_id=cycle.trace_id, proposal_id=cycle.proposal_id
            )
        except TradeError as error:
            log.warning("order not placed: %s", error)
            return Execution(error=f"{type(error).__name__}: {error}"[:300])
        return Execution(fill=fill)

    def _snapshot(
        self, sink: Sink, now: datetime, price: Decimal, account: AccountState
    ) -> Decimal | None:
        row = snapshot_portfolio(
            sink,
            ts=now,
            symbol=self.deps.settings.symbol,
            balances=account.balances,
            price=price,
            position_cost=account.position_cost,
            realized_pnl=account.realized_pnl,
            run_id=self.deps.run_id,
        )
        return row.equity

    def final_snapshot(self) -> None:
        """Mark to market once more on the way out (after a stop); the venue may be down."""
        try:
            account, price = self.deps.venue.account(), self.deps.venue.market.last_price()
        except Exception as error:  # the last cycle's snapshot stands
            log.warning("no final snapshot: %s", error)
            return
        self._snapshot(self.deps.db, self.deps.clock.now(), price, account)

    def _is_long(self, account: AccountState, price: Decimal) -> bool:
        """Whether the account holds a tradable position (at least the exchange's minimum)."""
        held = account.balances.get(self.deps.settings.base_asset, Decimal(0))
        return held >= self.deps.venue.rules.smallest_valid_qty(price)

    def _record_experiment(
        self,
        cycle: CycleContext,
        outcome: CycleOutcome,
        brief: dict[str, object],
        execution: Execution,
        was_long: bool,
    ) -> bool:
        """The proposal is an experiment of the plan's strategy with the same policy; exploring
        means it was not the arm with the best posterior mean. Fallbacks teach nothing."""
        arms = brief["arms"]
        assert isinstance(arms, dict)
        best = best_arm(
            {a: v["mean"] for a, v in arms.items()}, {a: v["count"] for a, v in arms.items()}
        )
        chosen = outcome.plan.strategies[0]
        explore = arm_of(chosen) != best
        if "TRADER" in outcome.fallbacks or outcome.error:
            return explore
        strategy = next(
            (s for s in outcome.plan.strategies if s.policy_id == outcome.proposal.policy_id),
            chosen,
        )
        horizon = timedelta(
            seconds=self.deps.settings.timeframe_seconds
            * self.deps.settings.experiment_horizon_candles
        )
        proposal = outcome.proposal
        write_experiment(
            cycle.audit,
            NewExperiment(
                id="exp_" + cycle.trace_id.removeprefix("trace_")[:24],
                scope=self.deps.scope,
                trace_id=cycle.trace_id,
                plan_id=cycle.plan_id,
                proposal_id=cycle.proposal_id,
                policy_id=proposal.policy_id,
                arm=arm_of(strategy),
                params=to_payload(strategy)["params"],
                hypothesis=proposal.hypothesis,
                confidence=proposal.confidence,
                explore=arm_of(strategy) != best,
                action=proposal.action,
                # The position the proposal leaves us in: long after a BUY, flat after a SELL.
                exposure={"BUY": 1.0, "SELL": 0.0}.get(proposal.action, float(was_long)),
                qty=proposal.quantity,
                executed=execution.fill is not None,
                entry_ts=cycle.now,
                entry_price=cycle.price,
                due_ts=cycle.now + horizon,
            ),
        )
        return explore

    def _failed(
        self, audit: AuditBuffer, trace_id: str, now: datetime, started: float, error: Exception
    ) -> Cycle:
        self._errors_in_a_row += 1
        backoff = min(MAX_BACKOFF_SECS, 30 * 2 ** (self._errors_in_a_row - 1))
        message = f"{type(error).__name__}: {error}"[:300]
        log.warning("cycle at %s failed (%s); next try in %ss", now.isoformat(), message, backoff)
        log.debug("cycle failure", exc_info=error)
        row = Cycle(
            run_id=self.deps.run_id,
            trace_id=trace_id,
            cycle_ts=now,
            wall_ts=datetime.now(now.tzinfo),
            status="ERROR",
            wakeup_secs=backoff,
            duration_ms=(perf_counter() - started) * 1000,
            error=message,
        )
        log_cycle(audit, row)
        audit.flush(self.deps.db)  # whatever was decided before the failure is kept
        return row
