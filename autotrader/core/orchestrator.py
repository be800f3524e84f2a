"""The loop: plan -> propose -> judge -> execute -> log -> sleep, on any clock.

Each cycle asks the research lab for the weekly evaluation and the posteriors, runs the agent
graph in one trace, executes an approved verdict through the trade tool, marks the portfolio to
market, has the lab record the proposal and measure what came due, and commits it. A decision
is made once: a trading cycle commits its decisions, its open cycle row and its order intent
together before the order is sent; the trade, the order's final status and the cycle's row are
then committed together. A cycle left open by a crash or a failure is finished from what was
stored (its intent resolved by client id), never decided again; one whose order's outcome is
unknown stays open, and is finished (the order looked up again, with back-off) before any new
cycle. A cycle that fails before its decisions are committed is logged and retried after a
back-off; only a ConfigError stops the loop. A stop request ends it after the current cycle.
A wake-up that finds no candle closed since the last decided cycle decides nothing (no trade,
no experiment: the data is the same) and sleeps until the next candle closes. An order that
fills later (a replay's order fills at the next candle's open) keeps its cycle open until then:
the loop sleeps to its fill time and finishes the cycle with the fill.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from time import perf_counter

from agents import custom_span, trace

from autotrader.agents.briefs import planner_brief
from autotrader.agents.graph import AgentGraph, CycleOutcome
from autotrader.clock import from_ms
from autotrader.core.console import ConsoleView
from autotrader.core.runs import last_decided_candle, log_cycle, open_cycles
from autotrader.cycle import CycleContext, Deps, open_cycle, trace_id_for
from autotrader.db import AuditBuffer, Sink
from autotrader.db.models import Cycle
from autotrader.db.retention import DailyPrune
from autotrader.db.traces import LocalTraceStore
from autotrader.errors import (
    ConfigError,
    DatabaseBusy,
    OrderOutcomeUnknown,
    OrderPending,
    ProviderRefused,
    TradeError,
    describe,
)
from autotrader.exchange.accounting import Books
from autotrader.exchange.base import AccountState
from autotrader.failpoints import failpoint
from autotrader.research.lab import Lab, Recorded
from autotrader.schemas import Plan, Proposal, Side
from autotrader.tools.ledger import decisions_of, order_of_trace, snapshot_portfolio
from autotrader.tools.portfolio import holds_position
from autotrader.tools.trade import Fill, OrderIntent, make_idem

log = logging.getLogger("autotrader")
MAX_NOTE_CHARS = 160  # a fallback's reason as the cycle row keeps it, for the console
BACKOFF_BASE_SECS = 30  # the first retry after a failed cycle; doubles per failure in a row
MAX_BACKOFF_SECS = 900
CANDLE_POLL_SECS = 10  # how soon to look again when a candle is due but not published yet


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


@dataclass(frozen=True)
class Decided:
    """A cycle's decisions: its row as decided (OPEN until closed), the plan and proposal the
    research loop records, and whether they teach it anything (not a fallback)."""

    row: Cycle
    plan: Plan
    proposal: Proposal
    teaches: bool


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
        self._maybe_open = True  # at start, and after a failure once a cycle was decided
        self._decided_candle = last_decided_candle(deps.db, deps.run_id)
        self._filling: set[str] = set()  # traces of cycles this loop left open for a fill
        self._prune = DailyPrune(deps.db, deps.settings.trace_retention_days)

    async def run(self) -> str:
        """Cycle until the replay ends, `until` passes or a stop is requested."""
        clock = self.deps.clock
        while not self.stop.requested:
            if self._maybe_open:
                finished = self._finish_open_cycles_or_wait()
                if finished is not None:
                    await clock.sleep(finished.wakeup_secs, interrupt=self.stop.event)
                    continue
            if self.until is not None and clock.now() > self.until:
                return "DONE"
            candle = self._newest_close()
            if candle is not None and candle == self._decided_candle:
                await clock.sleep(self._secs_to_close_after(candle), interrupt=self.stop.event)
                continue
            row = await self.cycle(candle)
            if row.status == "OK" or self._maybe_open:  # decided (a failed one stays open)
                self._decided_candle = candle
            if row.status != "OPEN":  # an open one's order fills later; it is shown then
                self.view.cycle(row)
            self._prune.maybe(row.cycle_ts)
            await clock.sleep(row.wakeup_secs, interrupt=self.stop.event)
        return "STOPPED"

    def _newest_close(self) -> datetime | None:
        """When the newest closed candle closed; None if the feed cannot say (the cycle then
        runs, and fails or copes as it would)."""
        try:
            newest = self.deps.venue.market.ohlcv(self.deps.settings.timeframe, 1)
        except Exception:
            return None
        step = timedelta(seconds=self.deps.settings.timeframe_seconds)
        return from_ms(newest[-1].ts) + step if newest else None

    def _secs_to(self, moment: datetime) -> int:
        """Whole seconds from now to `moment` (at least one: the loop always moves on)."""
        return max(1, math.ceil((moment - self.deps.clock.now()).total_seconds()))

    def _secs_to_close_after(self, close: datetime) -> float:
        step = timedelta(seconds=self.deps.settings.timeframe_seconds)
        wait = (close + step - self.deps.clock.now()).total_seconds()
        return wait if wait > 0 else CANDLE_POLL_SECS

    async def cycle(self, candle: datetime | None = None) -> Cycle:
        """One decided cycle; `candle` is the close of the newest closed candle it decides on."""
        deps, settings = self.deps, self.deps.settings
        started, now = perf_counter(), deps.clock.now()
        audit = AuditBuffer()  # this cycle's audit rows, committed together
        trace_id = trace_id_for(deps.run_id, now)
        if self._traces is not None:
            self._traces.route(trace_id, audit)
        decided: Decided | None = None
        try:
            evaluation = self.lab.weekly(audit, now)
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
                decided = self._decided(cycle, outcome, candle)
                with custom_span("execute", {"executable": outcome.executable}):
                    execution = self._execute(decided, outcome, audit)
                # The outcome, for filtering traces by it (both stores read it at trace end).
                metadata.update(
                    action=outcome.proposal.action,
                    verdict=outcome.verdict.decision,
                    executed=str(execution.fill is not None).lower(),
                    fallback=",".join(sorted(outcome.fallbacks)) or "none",
                )
            # No order tried: the account is as the cycle read it (no second request).
            seen = None if outcome.executable else cycle.account()
            return self._close(decided, execution, audit, started, price=cycle.price, account=seen)
        except OrderPending as pending:  # decided and sent; finished when the order fills
            assert decided is not None
            self._maybe_open = True
            self._filling.add(trace_id)
            return decided.row.model_copy(update={"wakeup_secs": self._secs_to(pending.until)})
        except (ConfigError, ProviderRefused):
            if not self._committed(decided):
                audit.flush(deps.db)
            raise
        except Exception as error:  # a failed cycle is logged and retried; the loop goes on
            return self._failed(audit, trace_id, now, started, error, decided)

    def _decided(
        self, cycle: CycleContext, outcome: CycleOutcome, candle: datetime | None
    ) -> Decided:
        tried = self.lab.tried(cycle.research, outcome.plan, outcome.proposal)
        row = Cycle(
            run_id=self.deps.run_id,
            trace_id=cycle.trace_id,
            cycle_ts=cycle.now,
            wall_ts=datetime.now(cycle.now.tzinfo),
            status="OPEN",
            plan_mode=outcome.plan.mode,
            arm=tried.arm,
            explore=tried.explore,
            action=outcome.proposal.action,
            qty=outcome.proposal.quantity,
            verdict=outcome.verdict.decision,
            wakeup_secs=outcome.plan.next_wakeup_secs,
            model_calls=cycle.model_calls,
            duration_ms=0.0,
            fallbacks=len(outcome.fallbacks),
            guardrail=outcome.guardrail_violation,
            error=outcome.error,
            price=cycle.price,
            candle_ts=candle,
            chars_sent=sum(call.chars for call in cycle.calls),
            input_tokens=sum(call.input_tokens for call in cycle.calls),
            output_tokens=sum(call.output_tokens for call in cycle.calls),
            model_ms=sum(call.latency_ms for call in cycle.calls),
            reasks=sum(call.attempt > 1 for call in cycle.calls),
            fallback_reason=next(
                (f"{role}: {why}"[:MAX_NOTE_CHARS] for role, why in outcome.fallbacks.items()),
                None,
            ),
        )
        return Decided(row, outcome.plan, outcome.proposal, outcome.proposal_decided)

    def _execute(self, decided: Decided, outcome: CycleOutcome, audit: AuditBuffer) -> Execution:
        """Commit the decisions with the order intent, then place the order through the trade
        tool; a refusal is logged, not fatal."""
        if not outcome.executable:
            return Execution()
        row, trade = decided.row, self.deps.trade
        side: Side = "BUY" if outcome.proposal.action == "BUY" else "SELL"
        qty, price = outcome.final_qty, row.price or Decimal(0)
        key = make_idem(row.trace_id, row.cycle_ts, self.deps.settings.symbol, side, qty, price)
        try:
            intent = trade.intend(side, qty, key, trace_id=row.trace_id)
        except TradeError as error:  # refused before anything was written or sent
            log.warning("order not placed: %s", error)
            return Execution(error=describe(error))
        log_cycle(audit, row)
        audit.append_once(intent.row(row.cycle_ts, self.deps.settings.symbol))
        audit.flush(self.deps.db)  # decisions, open cycle and intent: one commit, before sending
        failpoint("decided")
        return self._send(intent, audit)

    def _send(self, intent: OrderIntent, audit: AuditBuffer) -> Execution:
        """The order's outcome; an unknown one raises, so the cycle stays open (its remaining
        rows wait for the order to resolve) and the loop looks it up again before anything
        new is decided."""
        try:
            return Execution(fill=self.deps.trade.execute(intent, audit))
        except OrderOutcomeUnknown:
            raise
        except TradeError as error:
            log.warning("order not placed: %s", error)
            return Execution(error=describe(error))

    def _close(
        self,
        decided: Decided,
        execution: Execution,
        audit: AuditBuffer,
        started: float,
        *,
        price: Decimal,
        account: AccountState | None = None,
    ) -> Cycle:
        """Mark to market, record the experiment, measure what came due, and commit them with
        the cycle's row (and the order's outcome, already in `audit`). `account` is the
        venue's state when no order was tried; otherwise it is read here, after any fill."""
        deps, fill = self.deps, execution.fill
        now = decided.row.cycle_ts
        if account is None:
            account = deps.venue.account()
        books = deps.books.current(pending=[fill] if fill else [])
        snapshot = self._snapshot(audit, deps.clock.now(), price, account, books)
        self.lab.record(
            audit,
            Recorded(decided.row.arm or "", bool(decided.row.explore)),
            trace_id=decided.row.trace_id,
            now=now,
            price=decided.row.price or price,
            plan=decided.plan,
            proposal=decided.proposal,
            executed=fill is not None,
            long_now=holds_position(account, deps.venue.rules, price),
            teaches=decided.teaches,
        )
        self.lab.measure(audit, now)
        row = decided.row.model_copy(
            update={
                "status": "OK",
                "executed": fill is not None,
                "fill_price": fill.price if fill else None,
                "equity": snapshot,
                "duration_ms": (perf_counter() - started) * 1000,
                "error": execution.error or decided.row.error,
            }
        )
        log_cycle(audit, row)
        failpoint("closing")
        audit.flush(deps.db)
        failpoint("closed")
        self._errors_in_a_row = 0
        return row

    def _finish_open_cycles_or_wait(self) -> Cycle | None:
        """Finish the open cycles; if the venue is down, say so and leave them open (the loop
        waits out a back-off and tries again before any new cycle)."""
        try:
            return self.finish_open_cycles()
        except (ConfigError, ProviderRefused):
            raise
        except OrderPending as pending:  # not filled yet: wait for it, no error
            self._maybe_open = True
            return self._still_open("OPEN", self._secs_to(pending.until))
        except Exception as error:
            self._maybe_open = True
            backoff = self._next_backoff()
            log.warning(
                "cannot finish an open cycle yet (%s); next try in %ss", describe(error), backoff
            )
            return self._still_open("ERROR", backoff, error=describe(error))

    def _still_open(self, status: str, wakeup_secs: int, error: str | None = None) -> Cycle:
        """The loop's row for a wait on the open cycles (not stored): when to look again."""
        now = self.deps.clock.now()
        return Cycle(
            run_id=self.deps.run_id,
            trace_id="",
            cycle_ts=now,
            wall_ts=datetime.now(now.tzinfo),
            status=status,
            wakeup_secs=wakeup_secs,
            duration_ms=0.0,
            error=error,
        )

    def _next_backoff(self) -> int:
        """Count a failure in a row; the wait before the next try doubles with each."""
        self._errors_in_a_row += 1
        return min(MAX_BACKOFF_SECS, BACKOFF_BASE_SECS << (self._errors_in_a_row - 1))

    def finish_open_cycles(self) -> Cycle | None:
        """Finish every cycle a crash or a failure left open, from its stored decisions and
        intent (never deciding it again); the last one finished, if any."""
        self._maybe_open = False
        finished = None
        for row in open_cycles(self.deps.db, self.deps.run_id):
            started = perf_counter()
            audit = AuditBuffer()
            decided = self._stored(row)
            order = order_of_trace(self.deps.db, row.trace_id)
            execution = self._send(OrderIntent.of(order), audit) if order else Execution()
            price = self.deps.venue.market.last_price()
            finished = self._close(decided, execution, audit, started, price=price)
            if row.trace_id not in self._filling:
                self.view.note(
                    f"finished the cycle of {row.cycle_ts:%Y-%m-%d %H:%M} a stop left open, "
                    "from its stored decisions"
                    + (f" (order {order.client_order_id})" if order else ""),
                    level="WARNING",
                )
            self._filling.discard(row.trace_id)
            self.view.cycle(finished)
        return finished

    def _stored(self, row: Cycle) -> Decided:
        """A decided cycle rebuilt from its committed rows."""
        decisions = {d.agent: d for d in decisions_of(self.deps.db, row.trace_id)}
        plan = Plan.model_validate(json.loads(decisions["PLANNER"].payload_json))
        proposal = Proposal.model_validate(json.loads(decisions["TRADER"].payload_json))
        teaches = decisions["TRADER"].fallback_reason is None and row.error is None
        return Decided(row, plan, proposal, teaches)

    def _snapshot(
        self, sink: Sink, now: datetime, price: Decimal, account: AccountState, books: Books
    ) -> Decimal | None:
        row = snapshot_portfolio(
            sink,
            ts=now,
            symbol=self.deps.settings.symbol,
            account=account,
            price=price,
            books=books,
            run_id=self.deps.run_id,
        )
        return row.equity

    def mark_to_market(self) -> None:
        """Mark to market once more: before a new run's first cycle (so its returns start
        from the balance it started with, before any trade's costs) and on the way out after a
        stop. The venue may be down: then the cycles' own snapshots stand."""
        try:
            account, price = self.deps.venue.account(), self.deps.venue.market.last_price()
        except Exception as error:  # the last cycle's snapshot stands
            log.warning("no final snapshot: %s", error)
            return
        self._snapshot(
            self.deps.db, self.deps.clock.now(), price, account, self.deps.books.current()
        )

    def _committed(self, decided: Decided | None) -> bool:
        """Whether this cycle's decisions are on disk (a trading cycle's first commit)."""
        return decided is not None and bool(order_of_trace(self.deps.db, decided.row.trace_id))

    def _failed(
        self,
        audit: AuditBuffer,
        trace_id: str,
        now: datetime,
        started: float,
        error: Exception,
        decided: Decided | None,
    ) -> Cycle:
        backoff = self._next_backoff()
        message = describe(error)  # the console's cycle line says it, once
        log.debug("cycle at %s failed; next try in %ss", now.isoformat(), backoff, exc_info=error)
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
        if self._committed(decided):
            # Its decisions are on disk: it stays open, to be finished (not decided again)
            # before the next cycle; what this attempt buffered is dropped and redone then.
            self._maybe_open = True
            return row
        log_cycle(audit, row)
        try:
            audit.flush(self.deps.db)  # whatever was decided before the failure is kept
        except DatabaseBusy as busy:  # the loop goes on; the console shows why
            log.warning("cycle at %s not logged: %s", now.isoformat(), busy)
        return row
