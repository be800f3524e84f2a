"""The exchange fault storm: the real loop (run_agent, live wiring) on a simulated clock against
the fake Binance under ccxt, with faults injected on a seeded schedule and in-process crashes at
failpoints, restarted on the same database after each one; then what it left is compared with
the fake's own book of record.

A crash raises `Crash`, a BaseException nothing in autotrader catches (as nothing survives a
kill), from an armed failpoint; the driver then starts run_agent again, as a supervisor would.
A boot that fails because the venue is down (a maintenance window) is retried a minute later.
Retry waits advance the simulated clock (RunOptions.retry_sleep): no wall-clock sleep anywhere.
"""

from __future__ import annotations

import asyncio
import io
import random
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from time import perf_counter
from typing import Any

from rich.console import Console

from autotrader.agents.providers import ModelSet
from autotrader.clock import SimulatedClock
from autotrader.config import Settings, load_settings
from autotrader.core.boot import run_agent
from autotrader.errors import VenueUnavailable
from autotrader.failpoints import FAILPOINTS
from tests.crash_harness import Invariants, invariants
from tests.fakes.binance import API_KEY, API_SECRET, FakeBinance
from tests.fakes.faults import FaultPlan
from tests.fakes.traders import restless_models
from tests.faults.checks import OrderTruth, lost_fills, order_truth, rows
from tests.helpers import real_candles

# In-process crash points in a cycle, and how many times each may be reached before it fires.
CRASH_STAGES: dict[str, tuple[int, int]] = {
    "decided": (1, 2),
    "sent": (1, 2),
    "filled": (1, 2),
    "closing": (1, 12),
    "closed": (1, 12),
}
RECONCILE_ODDS = 0.3  # a boot also armed to crash inside reconciliation (if it has work)
BOOT_RETRY = timedelta(minutes=1)


class Crash(BaseException):
    """An in-process crash at a failpoint."""

    def __init__(self, stage: str) -> None:
        super().__init__(stage)
        self.stage = stage


@dataclass(frozen=True)
class StormConfig:
    seed: int
    mode: str  # testnet or real
    start: datetime
    hours: float
    crashes: int
    balances: Mapping[str, Decimal]
    book_offset: Decimal = Decimal(0)
    settings: Mapping[str, Any] = field(default_factory=dict)
    fault_rate: float = 0.15
    order_fault_rate: float = 0.6
    maintenance_windows: int = 3
    oversize: Decimal = Decimal(1)  # the restless Trader's: how far past its sizing it asks


@dataclass(frozen=True)
class VenueCheck:
    """The ledger against the fake's book of record."""

    fills_not_booked_once: int  # a fake fill with no trade, or with two
    trades_without_a_fill: int  # a booked trade the fake never executed
    client_ids_executed_twice: int
    cycles_with_two_executions: int
    orders: OrderTruth


@dataclass
class StormResult:
    config: StormConfig
    fake: FakeBinance
    db: Path
    crashes: Counter[str] = field(default_factory=Counter)
    boot_failures: int = 0
    lost_while_running: int = 0  # fills the ledger missed although their cycle had finished
    runs: int = 0
    run_ids_in_storm: int = 0  # runs registered before the last, quiet boot (1: all adopted)
    lost_after_restart: int = 0
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def restarts(self) -> int:
        return self.runs - 1

    def cycles_ok(self) -> int:
        return int(rows(self.db, "SELECT count(*) FROM cycles WHERE status = 'OK'")[0][0])

    def ledger(self) -> Invariants:
        return invariants(self.db)

    def venue(self) -> VenueCheck:
        fake = self.fake
        executed = Counter(order.client_order_id for order in fake.orders)
        venue_ids = {str(order.order_id) for order in fake.orders}
        trades = Counter(order_id for (order_id,) in rows(self.db, "SELECT order_id FROM trades"))
        trace_of = dict(rows(self.db, "SELECT client_order_id, trace_id FROM orders"))
        per_cycle = Counter(trace_of.get(order.client_order_id) for order in fake.orders)
        return VenueCheck(
            fills_not_booked_once=sum(trades[str(o.order_id)] != 1 for o in fake.orders),
            trades_without_a_fill=sum(n for oid, n in trades.items() if oid not in venue_ids),
            client_ids_executed_twice=sum(n > 1 for n in executed.values()),
            cycles_with_two_executions=sum(n > 1 for n in per_cycle.values()),
            orders=order_truth(self.db, set(executed)),
        )


def storm_settings(config: StormConfig, db: Path) -> Settings:
    return load_settings(
        env_file=None,
        mode=config.mode,
        exchange_api_key=API_KEY,
        exchange_api_secret=API_SECRET,
        db_path=db,
        log_level="WARNING",
        **config.settings,
    )


def run_storm(workdir: Path, config: StormConfig) -> StormResult:
    """Run the storm to the end of its span, restarting after every crash, then restart once
    more with the faults off (the last boot reconciles whatever the storm left)."""
    started = perf_counter()
    clock = SimulatedClock(config.start)
    plan = FaultPlan.with_maintenance(
        config.seed,
        config.start,
        config.hours,
        config.maintenance_windows,
        rate=config.fault_rate,
        order_rate=config.order_fault_rate,
    )
    fake = FakeBinance(
        clock, real_candles(), plan, balances=config.balances, book_offset=config.book_offset
    )
    result = StormResult(config, fake, workdir / f"{config.mode}-storm.db")
    settings = storm_settings(config, result.db)
    models = restless_models(settings, config.oversize)
    random.seed(config.seed)  # tenacity's back-off jitter draws from the global generator
    end = config.start + timedelta(hours=config.hours)
    chooser = random.Random(config.seed)
    stages = sorted(CRASH_STAGES)
    chooser.shuffle(stages)
    crashes_left = config.crashes
    armed: tuple[str, int, bool] | None = None  # kept over boots the venue refused
    while clock.now() < end:
        if crashes_left and armed is None:  # every stage in turn, so each is reached
            stage = stages[(config.crashes - crashes_left) % len(stages)]
            nth = chooser.randint(*CRASH_STAGES[stage])
            armed = (stage, nth, chooser.random() < RECONCILE_ODDS)
        if armed is not None:
            _arm(armed[0], armed[1])
            if armed[2]:
                _arm("reconcile", 1)
        try:
            boot(settings, models, fake, hours=(end - clock.now()).total_seconds() / 3600)
            armed = None
        except Crash as crash:
            crashes_left -= 1
            result.crashes[crash.stage] += 1
            armed = None
        except VenueUnavailable as down:  # a boot inside a maintenance window
            result.boot_failures += 1
            result.notes.append(f"boot failed at {clock.now():%m-%d %H:%M}: {down}")
            clock.advance_to(clock.now() + BOOT_RETRY)
        finally:
            FAILPOINTS.disarm()
        result.runs += 1
        lost = lost_fills(result.db, executed(fake))
        result.lost_while_running += len(lost)
        result.notes.extend(f"lost while running: {line}" for line in lost)
    result.run_ids_in_storm = int(rows(result.db, "SELECT count(*) FROM runs")[0][0])
    plan.enabled = False
    boot(settings, models, fake, hours=0.001)
    result.runs += 1
    result.lost_after_restart = len(lost_fills(result.db, executed(fake)))
    result.seconds = perf_counter() - started
    return result


def executed(fake: FakeBinance) -> list[str]:
    return [order.client_order_id for order in fake.orders]


def _arm(stage: str, nth: int) -> None:
    def crash() -> None:
        raise Crash(stage)

    FAILPOINTS.arm(stage, nth, crash)


def boot(settings: Settings, models: ModelSet, fake: FakeBinance, *, hours: float) -> str:
    """One start of the agent on the fake, as a supervisor would start it; its console text."""
    options = fake.run_options(settings, models, hours=hours)
    out = io.StringIO()
    asyncio.run(run_agent(settings, options, Console(file=out, width=200)))
    return out.getvalue()
