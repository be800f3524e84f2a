"""Kill a real `runner.py` at a named stage of a cycle (SIGKILL, through its failpoints), restart
it, and compare what it leaves with an uninterrupted run of the same replay.

Used by the fast slice in tests/test_crash_safety.py and by the storm in tests/faults/.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from autotrader.failpoints import ENVIRONMENT
from tests.conftest import REPO_ROOT, clean_env

TRADES = "SELECT ts_utc, side, qty, price, fee FROM trades ORDER BY ts_utc, id"
EXPERIMENTS = (  # ids differ (they derive from the run id); what was tried and learnt may not
    "SELECT created_ts, arm, action, executed, exposure, status, reward, explore "
    "FROM experiments ORDER BY created_ts"
)
CYCLES = "SELECT cycle_ts, status, action, verdict, executed FROM cycles ORDER BY cycle_ts"
FINAL_EQUITY = "SELECT equity FROM portfolio ORDER BY id DESC LIMIT 1"


def run_cli(
    db: Path, replay: list[str], *, failpoint: str | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    extra = {ENVIRONMENT: failpoint} if failpoint else {}
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / "runner.py"), "--db", str(db), *replay],
        cwd=db.parent,
        env=clean_env(PYTHONPATH=str(REPO_ROOT), LOG_LEVEL="WARNING", **extra),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def rows(db: Path, query: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as raw:
        return raw.execute(query).fetchall()


@dataclass(frozen=True)
class Outcome:
    """What a run leaves that must not depend on being killed."""

    trades: list[tuple[Any, ...]]
    experiments: list[tuple[Any, ...]]
    cycles: list[tuple[Any, ...]]
    equity: Decimal

    @classmethod
    def of(cls, db: Path) -> Outcome:
        return cls(
            rows(db, TRADES),
            rows(db, EXPERIMENTS),
            rows(db, CYCLES),
            Decimal(rows(db, FINAL_EQUITY)[0][0]),
        )


@dataclass(frozen=True)
class Invariants:
    """Counts that must all be zero, whatever happened."""

    duplicate_orders: int  # two order rows for one idempotency key, or two fills of one order
    cycles_with_two_orders: int
    lost_fills: int  # venue fills the ledger does not have
    lying_orders: int  # an order whose status contradicts its trade, or still in flight
    decisions_without_a_cycle: int
    repeated_decisions: int  # a role deciding twice in one cycle
    open_cycles: int

    def problems(self) -> dict[str, int]:
        return {name: value for name, value in self.__dict__.items() if value}


def invariants(db: Path, *, venue_fills: str = "paper_fills") -> Invariants:
    def count(query: str) -> int:
        return int(rows(db, query)[0][0])

    return Invariants(
        duplicate_orders=count(
            "SELECT count(*) FROM (SELECT client_order_id FROM trades "
            "GROUP BY client_order_id HAVING count(*) > 1)"
        )
        + count(
            f"SELECT count(*) FROM (SELECT client_order_id FROM {venue_fills} "
            "GROUP BY client_order_id HAVING count(*) > 1)"
        ),
        cycles_with_two_orders=count(
            "SELECT count(*) FROM (SELECT trace_id FROM orders GROUP BY trace_id "
            "HAVING count(*) > 1)"
        ),
        lost_fills=count(
            f"SELECT count(*) FROM {venue_fills} f WHERE NOT EXISTS "
            "(SELECT 1 FROM trades t WHERE t.client_order_id = f.client_order_id)"
        ),
        lying_orders=count(
            "SELECT count(*) FROM orders o WHERE o.status IN ('NEW', 'PENDING') "
            "OR (o.status = 'FILLED') != EXISTS (SELECT 1 FROM trades t "
            "WHERE t.client_order_id = o.client_order_id)"
        ),
        decisions_without_a_cycle=count(
            "SELECT count(DISTINCT trace_id) FROM decisions d WHERE NOT EXISTS "
            "(SELECT 1 FROM cycles c WHERE c.trace_id = d.trace_id)"
        ),
        repeated_decisions=count(
            "SELECT count(*) FROM (SELECT trace_id, agent FROM decisions "
            "GROUP BY trace_id, agent HAVING count(*) > 1)"
        ),
        open_cycles=count("SELECT count(*) FROM cycles WHERE status = 'OPEN'"),
    )


def killed(result: subprocess.CompletedProcess[str]) -> bool:
    return result.returncode == -signal.SIGKILL
