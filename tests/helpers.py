"""Test helpers: a Binance VCR that scrubs secrets, real-data builders, a controllable market."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import vcr
from sqlmodel import col, select

from autotrader.agents.briefs import planner_brief
from autotrader.agents.graph import AgentGraph, CycleOutcome
from autotrader.agents.providers import ModelSet, build_models
from autotrader.clock import Clock, SimulatedClock, from_ms
from autotrader.config import BUNDLED_CANDLES, Settings, bundled_data_path, load_settings
from autotrader.core.runs import start_or_resume
from autotrader.cycle import CycleContext, Deps, open_cycle
from autotrader.db import Database
from autotrader.db.models import Decision
from autotrader.db.traces import LocalTraceStore
from autotrader.exchange.base import Venue
from autotrader.exchange.candles import Candle, load_candles
from autotrader.exchange.ccxt_venue import CcxtVenue, build_exchange
from autotrader.exchange.feeds import ReplayFeed
from autotrader.exchange.paper import PaperVenue
from autotrader.exchange.retry import RetryPolicy
from autotrader.exchange.rules import MarketRules
from autotrader.research.lab import Lab
from autotrader.research.store import MeasuredOutcome, Unmeasurable, apply_outcomes
from autotrader.schemas import Side
from autotrader.tools.cap import CapRule
from autotrader.tools.ledger import mark_order, record_order_intent
from autotrader.tools.portfolio import LedgerBooks
from autotrader.tools.position_limit import PositionLimit
from autotrader.tools.trade import TradeTool

CASSETTES = Path(__file__).parent / "cassettes"
NO_WAIT = RetryPolicy(attempts=3, initial_wait=0, max_wait=0)
SECRET_HEADERS = [
    "authorization",
    "x-mbx-apikey",
    "openai-organization",
    "openai-project",
    "cookie",
]
VOLATILE_PARAMS = ["timestamp", "signature", "recvWindow"]
# The position limit at its widest: all of the account (what the venue holds still binds).
WHOLE_ACCOUNT = PositionLimit("BTC/USDT", order_fraction=Decimal(1), fee_rate=Decimal("0.001"))

binance_vcr = vcr.VCR(
    cassette_library_dir=str(CASSETTES / "binance"),
    record_mode="none",
    match_on=["method", "scheme", "host", "port", "path", "query"],
    filter_headers=SECRET_HEADERS,
    filter_query_parameters=VOLATILE_PARAMS,
    filter_post_data_parameters=VOLATILE_PARAMS,
    decode_compressed_response=True,
)

_REAL_CANDLES: list[Candle] = []


def real_candles() -> list[Candle]:
    """The bundled real Binance BTC/USDT 5m candles (loaded once per test session)."""
    if not _REAL_CANDLES:
        _REAL_CANDLES.extend(load_candles(bundled_data_path(BUNDLED_CANDLES)).candles)
    return _REAL_CANDLES


def replay_at(index: int) -> tuple[ReplayFeed, SimulatedClock]:
    """A replay feed whose clock stands at the close of real candle number `index`."""
    candles = real_candles()
    clock = SimulatedClock(from_ms(candles[index].ts + 300_000))
    return ReplayFeed("BTC/USDT", candles, 300_000, clock), clock


def btc_rules() -> MarketRules:
    return MarketRules.recorded("BTC/USDT")


def paper_venue(
    db: Database,
    feed: ReplayFeed,
    clock: SimulatedClock,
    start: str = "1000",
    slippage: str = "0.0005",
    account: str = "paper",
) -> PaperVenue:
    """A paper venue on a replay feed, filling at the feed's next open."""
    return PaperVenue(
        db,
        feed,
        feed,
        btc_rules(),
        clock,
        start_quote=Decimal(start),
        fee_rate=Decimal("0.001"),
        slippage=Decimal(slippage),
        account=account,
    )


def trade_tool(
    venue: Venue,
    db: Database,
    clock: Clock,
    *,
    real: bool = False,
    cap: str = "5",
    run_id: str | None = None,
) -> TradeTool:
    """The trade tool as boot builds it, with the cap enforced when `real`, and no waits."""
    rule = CapRule(enforced=real, cap=Decimal(cap), buffer=Decimal("0.01"))
    return TradeTool(venue, db, clock, cap=rule, limit=WHOLE_ACCOUNT, lookup=NO_WAIT, run_id=run_id)


def record_outcomes(
    db: Database,
    outcomes: Sequence[MeasuredOutcome | Unmeasurable],
    *,
    now: datetime,
    half_life_secs: float,
) -> int:
    """Fold outcomes in as a cycle does (a writer in its transaction); how many counted."""
    counted: list[int] = []
    db.write(
        [],
        [
            lambda c: counted.append(
                apply_outcomes(c, outcomes, now=now, half_life_secs=half_life_secs)
            )
        ],
    )
    return counted[0]


def sent_intent(db: Database, **fields: Any) -> None:
    """An order intent as a crash after sending leaves it: persisted, marked sent (PENDING)."""
    order = record_order_intent(db, **fields)
    mark_order(db, order.client_order_id, "PENDING", order.created_ts, sent=True)


def decisions(db: Database) -> list[Decision]:
    """Every stored decision, in the order they were logged."""
    with db.session() as session:
        return list(session.exec(select(Decision).order_by(col(Decision.id))).all())


SANDBOX_NOW = datetime(2021, 10, 22, 23, 12, 30, tzinfo=UTC)  # just after the recorded klines


def sandbox_venue(clock: SimulatedClock | None = None, retry: RetryPolicy = NO_WAIT) -> CcxtVenue:
    settings = load_settings(
        env_file=None,
        mode="testnet",
        exchange_api_key="test-key-not-real",
        exchange_api_secret="test-secret-not-real",
    )
    exchange = build_exchange(settings)
    exchange.enableRateLimit = False
    return CcxtVenue(exchange, "BTC/USDT", clock or SimulatedClock(SANDBOX_NOW), retry)


@dataclass
class SteerableMarket:
    """A market (and fill pricer) whose price and fill price the test sets."""

    price: Decimal = Decimal("100000")
    fill_offset: Decimal = Decimal(0)  # fraction: the fill is price * (1 + offset)
    symbol: str = "BTC/USDT"
    fills: list[Decimal] = field(default_factory=list)

    def ohlcv(self, timeframe: str, limit: int) -> list[Candle]:
        return []

    def last_price(self) -> Decimal:
        return self.price

    def fill_price(self, side: Side, qty: Decimal) -> Decimal:
        fill = self.price * (1 + self.fill_offset)
        self.fills.append(fill)
        return fill

    def fill_time(self) -> datetime:
        return datetime.min.replace(tzinfo=UTC)  # a live book: an order fills when sent


@dataclass
class Harness:
    """One cycle's wiring as boot builds it (a registered run, paper venue on real candles,
    trade tool, ledger books, research lab), run through the production cycle factory."""

    db: Database
    settings: Settings
    venue: PaperVenue
    clock: SimulatedClock
    graph: AgentGraph
    store: LocalTraceStore
    deps: Deps
    lab: Lab
    last: CycleContext | None = None  # the context of the latest cycle run

    async def cycle(self) -> tuple[CycleOutcome, str]:
        from agents import trace

        now = self.clock.now()
        cycle = self.last = open_cycle(self.deps, now, self.lab.view(now))
        with trace("autotrader cycle", trace_id=cycle.trace_id, group_id=self.deps.run_id):
            outcome = await self.graph.run(cycle, planner_brief(cycle, None))
        cycle.audit.flush(self.db)  # as the orchestrator does at the end of a cycle
        return outcome, cycle.trace_id


def harness(
    db: Database, models: ModelSet | None = None, index: int = 2000, **settings: Any
) -> Harness:
    from agents import set_trace_processors

    config = load_settings(env_file=None, **settings)
    feed, clock = replay_at(index)
    run = start_or_resume(
        db,
        config,
        provider=config.provider,
        models={},
        span=(clock.now(), clock.now() + timedelta(days=1)),
        wall_now=datetime.now(UTC),
    )
    venue = paper_venue(db, feed, clock, account=run.paper_account or "paper")
    trade = TradeTool(
        venue,
        db,
        clock,
        cap=CapRule.of(config),
        limit=PositionLimit.of(config),
        lookup=NO_WAIT,
        run_id=run.run_id,
    )
    books = LedgerBooks(db, config.symbol, run.scope)
    deps = Deps(config, db, venue, trade, books, clock, run.run_id, run.scope)
    lab = Lab(db, feed, config, run_id=run.run_id, scope=run.scope, run_start=clock.now())
    store = LocalTraceStore(db)
    set_trace_processors([store])
    graph = AgentGraph(
        models or build_models(config),
        config.model_max_retries,
        deadline_secs=config.cycle_deadline_secs,
    )
    return Harness(db, config, venue, clock, graph, store, deps, lab)


# OpenAI: match on the endpoint only (bodies change whenever a prompt or schema changes).
openai_vcr = vcr.VCR(
    cassette_library_dir=str(CASSETTES / "openai"),
    record_mode="none",
    match_on=["method", "scheme", "host", "port", "path"],
    filter_headers=SECRET_HEADERS,
    decode_compressed_response=True,
)


def run_replay(
    db_path: Path,
    *,
    hours: float = 6,
    start: datetime | None = None,
    model_set: Any = None,
    trace_exporter: Any = None,
    **settings: Any,
) -> tuple[int, str]:
    """Run the real loop (run_agent) quietly over a replay; returns (exit code, console text)."""
    import asyncio
    import io

    from rich.console import Console

    from autotrader.core.boot import RunOptions, run_agent

    config = load_settings(env_file=None, db_path=db_path, **settings)
    out = io.StringIO()
    options = RunOptions(
        start=start, hours=hours, model_set=model_set, trace_exporter=trace_exporter
    )
    code = asyncio.run(run_agent(config, options, Console(file=out, width=160)))
    return code, out.getvalue()
