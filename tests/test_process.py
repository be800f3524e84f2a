"""The real program under real failures: killed between an order and its ledger write, and
interrupted by signals."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.conftest import REPO_ROOT, clean_env
from tests.helpers import run_replay

DAY = ["--from", "2025-09-29", "--hours", "24"]

# Runs the real CLI, but dies (as with SIGKILL: no cleanup) right after the venue filled the
# third order and before the ledger wrote it.
CRASH_ON_THIRD_FILL = """
import os, sys
from autotrader.tools import trade
settle, fills = trade.TradeTool._settle, []
def crash_before_booking(self, report, *args, **kwargs):
    fills.append(report)
    if len(fills) == 3:
        os._exit(9)
    return settle(self, report, *args, **kwargs)
trade.TradeTool._settle = crash_before_booking
from autotrader.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _run(args: list[str], cwd: Path, script: str | None = None) -> subprocess.CompletedProcess[str]:
    command = (
        [sys.executable, "-c", script, *args]
        if script
        else [sys.executable, str(REPO_ROOT / "runner.py"), *args]
    )
    return subprocess.run(
        command,
        cwd=cwd,
        env=clean_env(PYTHONPATH=str(REPO_ROOT)),
        capture_output=True,
        text=True,
        timeout=240,
    )


def _rows(path: Path, query: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as raw:
        return raw.execute(query).fetchall()


def test_killed_between_order_and_ledger_the_restart_books_it_once(tmp_path: Path) -> None:
    db = tmp_path / "crash.db"
    crashed = _run(["--db", str(db), *DAY], tmp_path, CRASH_ON_THIRD_FILL)
    assert crashed.returncode == 9
    # The venue filled it, the ledger does not have it, the order is still PENDING.
    assert _rows(db, "SELECT count(*) FROM paper_fills")[0][0] == 3
    assert _rows(db, "SELECT count(*) FROM trades")[0][0] == 2
    assert _rows(db, "SELECT status FROM orders ORDER BY id") == [
        ("FILLED",),
        ("FILLED",),
        ("PENDING",),
    ]

    restarted = _run(["--db", str(db), *DAY], tmp_path)
    assert restarted.returncode == 0, restarted.stderr
    # Its cycle was decided and its order sent: the restart finishes that cycle from what was
    # stored (the fill found at the venue by client id), it does not decide it again.
    assert "a stop left open, from its stored decisions" in restarted.stdout
    assert "(resumed)" in restarted.stdout
    # Ledger and venue agree: every fill booked exactly once, no order sent twice.
    fills = _rows(db, "SELECT client_order_id, qty, price FROM paper_fills ORDER BY id")
    booked = _rows(db, "SELECT client_order_id, qty, price FROM trades ORDER BY id")
    assert fills == booked
    assert len({cid for cid, _, _ in fills}) == len(fills)
    assert {s for (s,) in _rows(db, "SELECT status FROM orders")} == {"FILLED"}
    assert _rows(db, "SELECT status FROM runs") == [("DONE",)]
    # Up to the crash, the books are those of a run that was never interrupted.
    reference = tmp_path / "straight.db"
    run_replay(reference, hours=24, start=datetime(2025, 9, 29, tzinfo=UTC))
    first_three = "SELECT ts_utc, side, qty, price FROM trades ORDER BY id LIMIT 3"
    assert _rows(db, first_three) == _rows(reference, first_three)


# Cycles that take a while, as they do with a real model: a signal arrives mid-cycle.
SLOW_CYCLES = """
import asyncio, sys
from autotrader.core import orchestrator
cycle = orchestrator.Orchestrator.cycle
async def slow(self, candle=None):
    await asyncio.sleep(0.4)
    return await cycle(self, candle)
orchestrator.Orchestrator.cycle = slow
from autotrader.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _start(tmp_path: Path, script: str | None = None) -> tuple[subprocess.Popen[str], list[str]]:
    program = ["-c", script] if script else [str(REPO_ROOT / "runner.py")]
    process = subprocess.Popen(
        [sys.executable, *program, "--db", str(tmp_path / "sig.db")],
        cwd=tmp_path,
        env=clean_env(PYTHONPATH=str(REPO_ROOT)),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + 120
    while sum(" next " in line for line in lines) < 5:  # cycles are running
        assert time.monotonic() < deadline, "".join(lines)
        assert process.poll() is None, "".join(lines)
        time.sleep(0.05)
    return process, lines


def test_sigint_finishes_the_cycle_snapshots_and_exits_0(tmp_path: Path) -> None:
    process, lines = _start(tmp_path)
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=30) == 0
    time.sleep(0.2)
    output = "".join(lines)
    assert "SIGINT: stopping after this cycle" in output
    assert "STOPPED" in output and "Traceback" not in output
    db = tmp_path / "sig.db"
    assert _rows(db, "SELECT status FROM runs") == [("STOPPED",)]
    cycles = _rows(db, "SELECT count(*) FROM cycles")[0][0]
    marks = _rows(db, "SELECT count(*) FROM portfolio")[0][0]
    assert marks == cycles + 2  # the starting and the final mark


def test_sigterm_stops_cleanly_too(tmp_path: Path) -> None:
    process, _ = _start(tmp_path)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0


def test_a_second_ctrl_c_exits_at_once(tmp_path: Path) -> None:
    process, lines = _start(tmp_path, SLOW_CYCLES)
    process.send_signal(signal.SIGINT)
    deadline = time.monotonic() + 10
    while not any("stopping after this cycle" in line for line in lines):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    sent = time.monotonic()
    process.send_signal(signal.SIGINT)  # mid-cycle: no waiting for it to finish
    assert process.wait(timeout=10) == 130
    assert time.monotonic() - sent < 0.4


# What a replay loads: CCXT (a hundred exchanges, ~0.4 s of boot) only for a live venue.
REPORT_CCXT = """
import sys
from autotrader.cli import main
code = main(sys.argv[1:])
print("ccxt imported:", "ccxt" in sys.modules)
sys.exit(code)
"""


def test_a_replay_runs_without_importing_ccxt(tmp_path: Path) -> None:
    done = _run(["--hours", "1", "--db", str(tmp_path / "a.db")], tmp_path, REPORT_CCXT)
    assert done.returncode == 0, done.stderr
    assert "ccxt imported: False" in done.stdout
