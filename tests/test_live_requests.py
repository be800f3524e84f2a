"""What a live cycle asks the exchange (the stateful fake Binance, under CCXT's HTTP handling):
each signed or weighted request is latency and rate limit, so a cycle that trades nothing asks
for the account, the ticker and the candles once each."""

from __future__ import annotations

import asyncio
import io
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from rich.console import Console

from autotrader.agents.providers import build_models
from autotrader.clock import SimulatedClock
from autotrader.core.boot import run_agent
from tests.crash_harness import rows
from tests.fakes.binance import FakeBinance, fake_settings
from tests.fakes.faults import FaultPlan
from tests.helpers import real_candles

T0 = datetime(2025, 9, 29, tzinfo=UTC)


def requests_of_a_live_run(db_path: Path, hours: float) -> Counter[str]:
    """The requests of a quiet live run of the offline models, by endpoint."""
    plan = FaultPlan.quiet()
    fake = FakeBinance(SimulatedClock(T0), real_candles(), plan, balances={"USDT": Decimal(1000)})
    seen: Counter[str] = Counter()
    serve = fake.serve

    def counted(request: Any) -> Any:
        seen[f"{request.method} {urlsplit(request.url).path}"] += 1
        return serve(request)

    fake.serve = counted  # type: ignore[method-assign]
    settings = fake_settings(db_path)
    options = fake.run_options(settings, build_models(settings), hours=hours)
    asyncio.run(run_agent(settings, options, Console(file=io.StringIO())))
    return seen


def test_a_live_cycle_that_trades_nothing_asks_for_account_ticker_and_candles_once(
    tmp_path: Path,
) -> None:
    db_path = tmp_path / "live.db"
    seen = requests_of_a_live_run(db_path, hours=12)
    [(cycles, traded)] = rows(db_path, "SELECT count(*), sum(executed) FROM cycles")
    assert cycles > 20 and traded < 5  # mostly cycles that trade nothing
    # A trading cycle reads the account again to check and place its order, and once after.
    assert seen["GET /api/v3/account"] <= cycles + 4 * traded  # 3 a cycle before
    assert seen["GET /api/v3/ticker/24hr"] <= cycles + 3 * traded
    # The first cycle's shadow books look 1000 candles back; the next candle is asked as wide.
    assert seen["GET /api/v3/klines"] <= cycles + 2  # 3 a cycle before
