"""The loop: plan -> propose -> judge -> execute -> log -> sleep, on any clock.

Each cycle asks the research lab for the weekly evaluation and the posteriors, runs the agent
graph in one trace, executes an approved verdict through the trade tool, marks the portfolio to
market, has the lab record the proposal and measure what came due, and commits all of it in one
transaction (decisions go to disk before any order is sent). A cycle that fails (venue down past
its retries, model provider down) is logged and retried after a back-off; only a ConfigError
stops the loop. A stop request ends it after the current cycle.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from time import perf_counter

from agents import custom_span, trace

from autotrader.agents.briefs import planner_brief
from autotrader.agents.graph import AgentGraph, CycleOutcome
from autotrader.core.console import ConsoleView
from autotrader.core.runs import log_cycle
from autotrader.cycle import CycleContext, Deps, open_cycle, trace_id_for
from autotrader.db import AuditBuffer, Sink
from autotrader.db.models import Cycle
from autotrader.db.traces import LocalTraceStore
from autotrader.errors import ConfigError, TradeError, describe
from autotrader.exchange.base import AccountState
from autotrader.research.lab import Lab
from autotrader.schemas import Side
from autotrader.tools.ledger import snapshot_portfolio
from autotrader.tools.portfolio import holds_position
from autotrader.tools.trade import Fill, make_idem

log = logging.getLogger("autotrader")
BACKOFF_BASE_SECS = 30  # the first retry after a failed cycle; doubles per failure in a row
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


class Orchestrator:
    def __init__(
        self,
        deps: Deps,
        graph: AgentGraph,
        lab: Lab,
        view: ConsoleView,
        stop: StopRequest,
        *,
        until: datetime | None,
        traces: LocalTraceStore | None = None,
    ) -> None:
        self.deps = deps
        self.graph = graph
        self.lab = lab
        self.view = view
        self.stop = stop
        self.until = until
        self._errors_in_a_row = 0
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
        audit = AuditBuffer()  # this cycle's audit rows, committed together
        trace_id = trace_id_for(deps.run_id, now)
        if self._traces is not None:
            self._traces.route(trace_id, audit)
        try:
            evaluation = self.lab.weekly(now)
            research = self.lab.view(now)
            cycle = open_cycle(deps, now, research, audit)
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
            equity = self._snapshot(audit, now, cycle.price, account)
            tried = self.lab.record(
                audit,
                research,
                trace_id=trace_id,
                now=now,
                price=cycle.price,
                plan=outcome.plan,
                proposal=outcome.proposal,
                executed=execution.fill is not None,
                long_now=holds_position(account, deps.venue.rules, cycle.price),
                teaches=outcome.proposal_decided,
            )
            self.lab.measure(audit, now)
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
            arm=tried.arm,
            explore=tried.explore,
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

    def _execute(self, cycle: CycleContext, outcome: CycleOutcome) -> Execution:
        """Place the approved order through the trade tool; a refusal is logged, not fatal."""
        if not outcome.executable:
            return Execution()
        side: Side = "BUY" if outcome.proposal.action == "BUY" else "SELL"
        qty = outcome.final_qty
        key = make_idem(cycle.trace_id, cycle.now, cycle.settings.symbol, side, qty, cycle.price)
        cycle.audit.flush(self.deps.db)  # the decisions behind an order are on disk before it
        try:
            fill = self.deps.trade.place_market_order(side, qty, key, trace_id=cycle.trace_id)
        except TradeError as error:
            log.warning("order not placed: %s", error)
            return Execution(error=describe(error))
        return Execution(fill=fill)

    def _snapshot(
        self, sink: Sink, now: datetime, price: Decimal, account: AccountState
    ) -> Decimal | None:
        row = snapshot_portfolio(
            sink,
            ts=now,
            symbol=self.deps.settings.symbol,
            account=account,
            price=price,
            books=self.deps.books.current(),
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

    def _failed(
        self, audit: AuditBuffer, trace_id: str, now: datetime, started: float, error: Exception
    ) -> Cycle:
        self._errors_in_a_row += 1
        backoff = min(MAX_BACKOFF_SECS, BACKOFF_BASE_SECS * 2 ** (self._errors_in_a_row - 1))
        message = describe(error)
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
