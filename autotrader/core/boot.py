"""Booting a run: settings -> database -> clock and feed -> run (new or resumed) -> venue ->
reconciliation -> models and graph -> the loop, then a summary.

Replay (paper mode's default) runs on the bundled real candles with a simulated clock; live
paper trading, testnet and real run on the wall clock. All of them use the same orchestrator.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from agents import set_trace_processors, set_trace_provider
from agents.tracing.processor_interface import TracingExporter
from agents.tracing.provider import DefaultTraceProvider
from rich.console import Console
from rich.logging import RichHandler

from autotrader.agents.graph import AgentGraph
from autotrader.agents.providers import (
    ModelSet,
    build_models,
    ping,
    trace_processors,
    uploads_traces,
)
from autotrader.clock import Clock, SimulatedClock, WallClock, from_ms
from autotrader.config import Settings
from autotrader.core.console import ConsoleView
from autotrader.core.orchestrator import Orchestrator, StopRequest
from autotrader.core.reconcile import LIVE_LOOKBACK, reconcile
from autotrader.core.replay import ReplayData, load_replay, replay_span
from autotrader.core.runs import RunState, finish_run, open_cycles, start_or_resume
from autotrader.cycle import Deps
from autotrader.db import Database
from autotrader.db.lock import WriterLock
from autotrader.db.migrations import refuse_if_not_ours
from autotrader.db.traces import LocalTraceStore
from autotrader.errors import ConfigError, ProviderRefused, printable
from autotrader.exchange.base import FillPricer, MarketData, Venue
from autotrader.exchange.feeds import ReplayFeed
from autotrader.exchange.paper import PaperVenue
from autotrader.exchange.retry import RetryPolicy
from autotrader.exchange.rules import MarketRules
from autotrader.research.lab import Lab
from autotrader.research.summary import summarize
from autotrader.tools.cap import CapRule
from autotrader.tools.portfolio import LedgerBooks
from autotrader.tools.position_limit import PositionLimit
from autotrader.tools.trade import ORDER_LOOKUP, TradeTool


@dataclass(frozen=True)
class RunOptions:
    start: datetime | None = None
    until: datetime | None = None
    hours: float | None = None
    model_set: ModelSet | None = None  # a preset provider (tests, the learning benchmark)
    # Live wiring only: a CCXT exchange to use instead of building one (a pre-configured
    # instance, or a test double), and a clock instead of the wall clock (a simulated one).
    exchange: Any = None
    clock: Clock | None = None
    trace_exporter: TracingExporter | None = None  # in place of OpenAI's uploader (tests)
    # Live wiring only: how the venue's retry waits pass (default: real time); a test on a
    # simulated clock passes one that advances it, so back-off and Retry-After take no time.
    retry_sleep: Callable[[float], None] | None = None
    replay: ReplayData | None = None  # the replay file as the CLI already loaded and checked it

    def retry(self, policy: RetryPolicy) -> RetryPolicy:
        """`policy`, waiting through `retry_sleep` when one is given."""
        return replace(policy, sleep=self.retry_sleep) if self.retry_sleep else policy


@dataclass
class Wiring:
    clock: Clock
    market: MarketData
    venue: Venue
    span: tuple[datetime, datetime] | None
    gaps: tuple[str, ...] = ()  # holes in the replayed data, reported at start
    notes: tuple[str, ...] = ()  # candles set aside, a file that names no market


RunFor = Callable[[tuple[datetime, datetime] | None], RunState]


def wire_market(
    settings: Settings, db: Database, options: RunOptions, run_for: RunFor
) -> tuple[Wiring, RunState]:
    """Clock, feed and venue for the settings, with the run registered (or resumed) in between."""
    if settings.resolved_feed == "replay":
        clock = SimulatedClock(from_ms(0))
        data = options.replay or load_replay(settings)  # one-line refusals: market, length, ...
        feed = ReplayFeed(settings.symbol, data.candles, data.step_ms, clock, data.gaps)
        span = replay_span(data, options.start, options.until, options.hours)
        run = run_for(span)
        clock.advance_to(run.resume_at or span[0])
        rules = MarketRules.recorded(settings.symbol)
        venue: Venue = _paper(settings, db, feed, feed, rules, clock, run)
        return Wiring(clock, feed, venue, span, data.gaps, data.notes), run
    # Imported here: CCXT costs ~0.4 s of CPU to import, and a replay never touches it.
    from autotrader.exchange.ccxt_calls import call_exchange
    from autotrader.exchange.ccxt_venue import CcxtVenue, build_exchange
    from autotrader.exchange.live_feed import LiveFeed

    wall = options.clock or WallClock()
    run = run_for(None)
    if settings.mode == "paper":  # live public data, simulated fills
        exchange = options.exchange or build_exchange(settings, with_keys=False)
        retry = options.retry(RetryPolicy())
        live = LiveFeed(exchange, settings.symbol, wall, retry)
        call_exchange(retry, exchange.load_markets)
        rules = MarketRules.of(exchange, settings.symbol)
        venue = _paper(settings, db, live, live, rules, wall, run)
        return Wiring(wall, live, venue, None), run
    exchange = options.exchange or build_exchange(settings)
    venue = CcxtVenue(exchange, settings.symbol, wall, options.retry(RetryPolicy()))
    return Wiring(wall, venue.market, venue, None), run


def _paper(
    settings: Settings,
    db: Database,
    market: MarketData,
    pricer: FillPricer,
    rules: MarketRules,
    clock: Clock,
    run: RunState,
) -> PaperVenue:
    return PaperVenue(
        db,
        market,
        pricer,
        rules,
        clock,
        start_quote=settings.paper_start_usdt,
        fee_rate=settings.fee_rate,
        slippage=settings.slippage,
        account=run.paper_account or "paper",
    )


def banner_fields(
    settings: Settings, model_set: ModelSet, wiring: Wiring, venue: Venue, run: RunState
) -> dict[str, str]:
    feed = (
        f"replay {settings.resolved_replay_path.name} "
        f"{wiring.span[0]:%Y-%m-%d %H:%M} -> {wiring.span[1]:%Y-%m-%d %H:%M} UTC (simulated clock)"
        if wiring.span
        else "live (wall clock)"
    )
    models = ", ".join(f"{role.lower()}={name}" for role, name in model_set.names.items())
    efforts = {role: e for role, e in model_set.efforts.items() if e}
    if efforts:
        models += "  (reasoning " + ", ".join(f"{r.lower()} {e}" for r, e in efforts.items()) + ")"
    _, why = settings.provider_choice
    return {
        "mode": settings.mode + ("  (deposit cap enforced)" if settings.cap_enforced else ""),
        "symbol": f"{settings.symbol}  {settings.timeframe}",
        "feed": feed,
        "provider": f"{model_set.provider} ({model_set.endpoint}; {why})",
        "models": models,
        "traces": "local database" + (" + OpenAI" if uploads_traces(settings) else ""),
        "venue": venue.name,
        "cap": f"{settings.deposit_cap_usdt} USDT",
        "database": str(settings.db_path),
        "run": run.run_id + ("  (resumed)" if run.resumed else ""),
        "seed": str(settings.seed),
    }


async def preflight(model_set: ModelSet, view: ConsoleView) -> None:
    """A minimal request to each configured model before anything else: a refusal stops the
    start with the provider's reason; no answer yet is only a warning (cycles retry)."""
    for answer in await ping(model_set):
        if answer.permanent:
            raise ProviderRefused(
                f"{model_set.provider} at {model_set.endpoint} refused model {answer.model!r} "
                f"({answer.detail}); check OPENAI_API_KEY, the model names and OPENAI_BASE_URL"
            )
        if not answer.ok:
            view.note(
                f"model {answer.model} did not answer yet ({answer.detail}); cycles retry",
                level="WARNING",
            )


def printable_record(record: logging.LogRecord) -> bool:
    """A logging filter: the record's message (which may quote a model or a server) with its
    control characters escaped, so a log line can neither drive the terminal nor fake lines."""
    record.msg, record.args = printable(record.getMessage()), None
    return True


def configure_logging(console: Console, level: str, log_file: TextIO | None = None) -> None:
    handlers: list[logging.Handler] = [RichHandler(console=console, show_path=False, markup=False)]
    if log_file is not None:  # LOG_FILE: the same records, with time and level, as plain text
        to_file = logging.StreamHandler(log_file)
        to_file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handlers.append(to_file)
    for handler in handlers:
        handler.addFilter(printable_record)
    logging.basicConfig(level=level, handlers=handlers, format="%(message)s", force=True)
    # The SDK and HTTP clients are chatty at INFO; their warnings still show.
    for name in ("openai.agents", "openai", "httpx", "httpx2", "httpcore", "httpcore2", "ccxt"):
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLevelName(level)))


async def run_agent(settings: Settings, options: RunOptions, console: Console) -> int:
    """Run the agent as the one writer of its database (a second one stops at once)."""
    if settings.db_path.exists():  # a file that is not ours gets no lock file beside it either
        refuse_if_not_ours(settings.db_path)
    with WriterLock(settings.db_path), ExitStack() as files:
        log_file = None
        if settings.log_file is not None:
            try:
                log_file = files.enter_context(settings.log_file.open("a", encoding="utf-8"))
            except OSError as error:
                raise ConfigError(
                    f"LOG_FILE {settings.log_file}: {error.strerror}; choose a writable file"
                ) from None
            files.callback(_detach, log_file)
        return await _run_agent(settings, options, console, log_file)


def _detach(log_file: TextIO) -> None:
    """Stop logging to a LOG_FILE that is about to close."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, logging.StreamHandler) and handler.stream is log_file:
            root.removeHandler(handler)


async def _run_agent(
    settings: Settings, options: RunOptions, console: Console, log_file: TextIO | None
) -> int:
    configure_logging(console, settings.log_level, log_file)
    db = Database.open(settings.db_path)
    view = ConsoleView(
        console, settings.log_level, db=db, base_asset=settings.base_asset, log_file=log_file
    )
    model_set = options.model_set or build_models(settings)
    await preflight(model_set, view)
    wall_now = datetime.now(UTC)
    wiring, run = wire_market(
        settings,
        db,
        options,
        lambda span: start_or_resume(
            db,
            settings,
            provider=model_set.provider,
            models={str(role): name for role, name in model_set.names.items()},
            span=span,
            wall_now=wall_now,
        ),
    )
    venue, clock = wiring.venue, wiring.clock
    lookup = options.retry(ORDER_LOOKUP)
    trade = TradeTool(
        venue,
        db,
        clock,
        cap=CapRule.of(settings),
        limit=PositionLimit.of(settings),
        lookup=lookup,
        run_id=run.run_id,
    )
    books = LedgerBooks(db, settings.symbol, run.scope)
    deps = Deps(settings, db, venue, trade, books, clock, run.run_id, run.scope)
    view.banner(banner_fields(settings, model_set, wiring, venue, run))
    for gap in wiring.gaps:
        view.note(f"data gap: {gap}", level="WARNING")
    for note in wiring.notes:  # file names: the view prints every note as plain text
        view.note(f"replay data: {note}", level="WARNING")
    since = wiring.span[0] if wiring.span else clock.now() - LIVE_LOOKBACK
    open_traces = {row.trace_id for row in open_cycles(db, run.run_id)}
    fixed = reconcile(
        db, venue, since=since, now=clock.now(), run_id=run.run_id, open_traces=open_traces
    )
    if fixed.repaired or fixed.unresolved:
        view.note(fixed.describe(), level="WARNING")
    store = LocalTraceStore(db)
    processors = trace_processors(settings, store, options.trace_exporter)
    # A provider of our own rather than set_trace_processors: the SDK's lazily built default
    # would first make OpenAI's uploader (an HTTP client and a TLS context, ~50 ms of boot)
    # only to have it replaced.
    provider = DefaultTraceProvider()
    provider.set_processors(processors)
    set_trace_provider(provider)
    graph = AgentGraph(
        model_set, settings.model_max_retries, deadline_secs=settings.cycle_deadline_secs
    )
    stop = StopRequest()
    _install_signal_handlers(stop, view)
    run_start = wiring.span[0] if wiring.span else clock.now()
    until = (
        wiring.span[1]
        if wiring.span
        else (run_start + timedelta(hours=options.hours) if options.hours else None)
    )
    lab = Lab(db, venue.market, settings, run_id=run.run_id, scope=run.scope, run_start=run_start)
    orchestrator = Orchestrator(deps, graph, lab, view, stop, until=until, traces=store)
    if not run.resumed:
        orchestrator.mark_to_market()  # the starting balance: returns are measured from it
    status = "FAILED"
    # What boot built lives as long as the loop, so the collector need not walk it: without
    # this, each full collection walked the SDK's and the models' objects again, pausing a
    # cycle 0.15-0.3 s every few hundred cycles (the max of benchmarks/live_overhead.py).
    gc.freeze()
    try:
        if wiring.span:
            with view.replay_progress(*wiring.span):
                status = await orchestrator.run()
        else:
            status = await orchestrator.run()
    finally:
        gc.unfreeze()  # a process that runs again (the tests, a sweep's worker) frees it then
        if status == "STOPPED":
            orchestrator.mark_to_market()
        finish_run(db, run.run_id, status, datetime.now(UTC))
        for processor in processors:  # the local store and the uploader, on every way out
            processor.force_flush()
            processor.shutdown()
        set_trace_processors([])
    summary = summarize(db, run.run_id)
    view.summary(summary, {"status": status, "database": str(settings.db_path)})
    db.close()
    if summary.cycles and summary.error_cycles == summary.cycles:
        view.note(
            f"every one of the {summary.cycles} cycles failed; see the errors above", level="ERROR"
        )
        return 1
    return 0


def _install_signal_handlers(stop: StopRequest, view: ConsoleView) -> None:
    """First SIGINT/SIGTERM: finish the cycle, snapshot, exit 0. A second one: exit at once."""
    loop = asyncio.get_running_loop()

    def on_signal(signum: int) -> None:
        if stop.requested:
            os._exit(130)
        stop.request()
        name = signal.Signals(signum).name
        view.note(
            f"{name}: stopping after this cycle (press Ctrl-C again to quit now)", level="WARNING"
        )

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal, signum)
