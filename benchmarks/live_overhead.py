"""`make bench`: a live cycle's own overhead on the wall clock (issue 16).

The agent runs in testnet mode against the stateful fake Binance of the fault tests, plugged in
under CCXT's HTTP transport (CCXT's signing and parsing run; no socket, no wait), with the
offline model, on a simulated clock: 500 cycles, orders included. Each cycle is timed on the
wall clock from the orchestrator's call to its return (the cycle's commit included); the time
spent inside the fake exchange's answers and inside the model's answers is subtracted, which
leaves everything but exchange and model latency. Target: p99 <= 20 ms. The baseline beside it
is the bare SDK's scripted 7-turn cycle doing no work, timed in the same run.
"""

from __future__ import annotations

import asyncio
import io
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from agents.models.interface import Model
from rich.console import Console
from rich.table import Table

from autotrader.agents.providers import build_models
from autotrader.clock import SimulatedClock
from autotrader.core.boot import run_agent
from autotrader.core.orchestrator import Orchestrator
from autotrader.schemas import Role
from benchmarks.cycle_speed import bare_cycles_per_second
from tests.fakes.binance import FakeBinance, fake_settings
from tests.fakes.faults import FaultPlan
from tests.helpers import real_candles

CYCLES = 500
TARGET_P99_MS = 20.0
START = datetime(2025, 9, 22, tzinfo=UTC)  # 500 cycles fit in the bundled candles after it
HOURS = 14 * 24  # an upper bound: the run stops at CYCLES


class Stopwatch:
    """Seconds spent inside the wrapped calls since the last `take()`."""

    def __init__(self) -> None:
        self.inside = 0.0

    def wrap_sync(self, call: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            try:
                return call(*args, **kwargs)
            finally:
                self.inside += time.perf_counter() - began

        return timed

    def take(self) -> float:
        inside, self.inside = self.inside, 0.0
        return inside


class TimedModel(Model):
    """A model whose answers are timed into a stopwatch (the offline policy's own work)."""

    def __init__(self, inner: Model, watch: Stopwatch) -> None:
        self._inner, self._watch = inner, watch

    async def get_response(self, *args: Any, **kwargs: Any) -> Any:
        began = time.perf_counter()
        try:
            return await self._inner.get_response(*args, **kwargs)
        finally:
            self._watch.inside += time.perf_counter() - began

    def stream_response(self, *args: Any, **kwargs: Any) -> Any:
        return self._inner.stream_response(*args, **kwargs)


def measure(db: Path) -> tuple[list[float], list[float]]:
    """(each cycle's wall ms, the same less the exchange's and the model's time)."""
    settings = fake_settings(db)
    fake = FakeBinance(
        SimulatedClock(START),
        real_candles(),
        FaultPlan.quiet(),
        balances={"USDT": Decimal(1000)},
    )
    exchange_watch, model_watch = Stopwatch(), Stopwatch()
    fake.serve = exchange_watch.wrap_sync(fake.serve)  # type: ignore[method-assign]
    base = build_models(settings)
    timed: dict[Role, Model] = {
        role: TimedModel(model, model_watch) for role, model in base.models.items()
    }
    models = replace(base, models=timed)
    walls: list[float] = []
    own: list[float] = []
    cycle = Orchestrator.cycle

    async def timed_cycle(self: Orchestrator, candle: datetime | None = None) -> Any:
        exchange_watch.take(), model_watch.take()
        began = time.perf_counter()
        result = await cycle(self, candle)
        wall = time.perf_counter() - began
        walls.append(wall * 1000)
        own.append((wall - exchange_watch.take() - model_watch.take()) * 1000)
        if len(walls) >= CYCLES:
            self.stop.request()
        return result

    Orchestrator.cycle = timed_cycle  # type: ignore[method-assign]
    try:
        options = fake.run_options(settings, models, hours=HOURS)
        asyncio.run(run_agent(settings, options, Console(file=io.StringIO())))
    finally:
        Orchestrator.cycle = cycle  # type: ignore[method-assign]
    return walls, own


def percentile(values: list[float], share: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[round(share * 100) - 1]


def main() -> None:
    bare, turns = asyncio.run(bare_cycles_per_second())
    with tempfile.TemporaryDirectory() as tmp:
        walls, own = measure(Path(tmp) / "live.db")
    table = Table(title=f"make bench: live overhead, {len(own)} testnet cycles on the fake Binance")
    for heading in ("measure", "p50 (ms)", "p99 (ms)", "max (ms)", "target / baseline"):
        table.add_column(heading, justify="left" if heading == "measure" else "right")
    p99 = percentile(own, 0.99)
    verdict = "ok" if p99 <= TARGET_P99_MS else "MISSED"
    table.add_row(
        "a cycle less exchange and model time",
        f"{statistics.median(own):.1f}",
        f"{p99:.1f}",
        f"{max(own):.1f}",
        f"p99 <= {TARGET_P99_MS:.0f} ms: {verdict}",
    )
    table.add_row(
        "a whole cycle (wall clock)",
        f"{statistics.median(walls):.1f}",
        f"{percentile(walls, 0.99):.1f}",
        f"{max(walls):.1f}",
        "",
    )
    table.add_row(
        f"bare SDK cycle, {turns} scripted turns",
        f"{1000 / bare.wall:.1f} (mean)",
        "",
        "",
        "baseline, same run",
    )
    Console().print(table)


if __name__ == "__main__":
    main()
