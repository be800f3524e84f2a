"""Test helpers: a Binance VCR that scrubs secrets, real-data builders, a controllable market."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import vcr

from autotrader.clock import SimulatedClock, from_ms
from autotrader.config import BUNDLED_CANDLES, bundled_data_path, load_settings
from autotrader.db import Database
from autotrader.exchange.candles import Candle, load_candles
from autotrader.exchange.ccxt_calls import RetryPolicy
from autotrader.exchange.ccxt_venue import CcxtVenue, build_exchange
from autotrader.exchange.paper import PaperVenue
from autotrader.exchange.rules import MarketRules, offline_exchange
from autotrader.tools.market import ReplayFeed, Side

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
    return MarketRules.of(offline_exchange(), "BTC/USDT")


def paper_venue(
    db: Database, feed: Any, clock: Any, start: str = "1000", slippage: str = "0.0005"
) -> PaperVenue:
    return PaperVenue(
        db,
        feed,
        btc_rules(),
        clock,
        start_quote=Decimal(start),
        fee_rate=Decimal("0.001"),
        slippage=Decimal(slippage),
    )


SANDBOX_NOW = datetime(2021, 10, 22, 23, 12, 30, tzinfo=UTC)  # just after the recorded klines


def sandbox_venue(
    db: Database, clock: SimulatedClock | None = None, retry: RetryPolicy = NO_WAIT
) -> CcxtVenue:
    settings = load_settings(
        env_file=None,
        mode="testnet",
        exchange_api_key="test-key-not-real",
        exchange_api_secret="test-secret-not-real",
    )
    exchange = build_exchange(settings)
    exchange.enableRateLimit = False
    return CcxtVenue(exchange, "BTC/USDT", clock or SimulatedClock(SANDBOX_NOW), db, retry)


@dataclass
class SteerableMarket:
    """A market whose price and fill price the test sets; fills land within `spread`."""

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


@dataclass
class Harness:
    """One cycle's wiring as the orchestrator builds it: paper venue on real candles."""

    db: Database
    settings: Any
    venue: PaperVenue
    clock: SimulatedClock
    graph: Any
    store: Any

    async def cycle(self) -> tuple[Any, str]:
        import uuid

        from agents import gen_trace_id, trace

        from autotrader.agents.context import CycleContext, Deps
        from autotrader.briefing import planner_brief
        from autotrader.tools.trade import TradeTool

        trade = TradeTool(
            self.venue,
            self.db,
            self.clock,
            enforce_cap=self.settings.mode == "real",
            cap=self.settings.deposit_cap_usdt,
            cap_buffer=self.settings.cap_price_buffer,
            lookup=NO_WAIT,
        )
        deps = Deps(self.settings, self.db, self.venue, trade, self.clock)
        trace_id = gen_trace_id()
        cycle = CycleContext(
            deps,
            trace_id,
            self.clock.now(),
            uuid.uuid4().hex,
            uuid.uuid4().hex,
            self.venue.market.last_price(),
        )
        with trace("autotrader cycle", trace_id=trace_id, group_id="test"):
            outcome = await self.graph.run(cycle, planner_brief(cycle, None))
        cycle.audit.flush(self.db)  # as the orchestrator does at the end of a cycle
        return outcome, trace_id


def harness(db: Database, models: Any = None, index: int = 2000, **settings: Any) -> Harness:
    from agents import set_trace_processors

    from autotrader.agents.graph import AgentGraph
    from autotrader.agents.providers import build_models
    from autotrader.trace_store import LocalTraceStore

    config = load_settings(env_file=None, **settings)
    feed, clock = replay_at(index)
    venue = paper_venue(db, feed, clock)
    store = LocalTraceStore(db)
    set_trace_processors([store])
    graph = AgentGraph(models or build_models(config), config.model_max_retries)
    return Harness(db, config, venue, clock, graph, store)


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
    **settings: Any,
) -> tuple[int, str]:
    """Run the real loop (run_agent) quietly over a replay; returns (exit code, console text)."""
    import asyncio
    import io

    from rich.console import Console

    from autotrader.app import RunOptions, run_agent

    config = load_settings(env_file=None, db_path=db_path, **settings)
    out = io.StringIO()
    options = RunOptions(start=start, hours=hours, model_set=model_set)
    code = asyncio.run(run_agent(config, options, Console(file=out, width=160)))
    return code, out.getvalue()
