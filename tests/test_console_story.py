"""The console tells the story: a header, one line per cycle in 80 columns with a short trace id,
the position and PnL against buy & hold, a fallback's reason in a few words; the progress bar
stops where the run stopped; DEBUG adds decisions and tool calls; LOG_FILE gets it all."""

from __future__ import annotations

import io
import sqlite3
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from rich.console import Console

from autotrader.core.console import WIDTH, ConsoleView, clip
from autotrader.db import Database
from autotrader.db.models import Cycle, Decision, PortfolioSnapshot
from tests.helpers import run_replay

DAY = datetime(2025, 9, 29, tzinfo=UTC)
HEADER = "UTC   trace    plan    arm"


def cycle_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if " next " in line]


def test_cycle_lines_fit_80_columns_under_a_header(tmp_path: Path) -> None:
    _, out = run_replay(tmp_path / "story.db", hours=4, start=DAY)
    lines = cycle_lines(out)
    assert len(lines) > 5
    assert all(len(line) <= WIDTH for line in lines)
    assert HEADER in out
    with sqlite3.connect(tmp_path / "story.db") as raw:
        traces = [t for (t,) in raw.execute("SELECT trace_id FROM cycles ORDER BY id")]
    shorts = [line.split()[1] for line in lines]
    assert [t.startswith("trace_" + s) for t, s in zip(traces, shorts, strict=True)] == [
        True
    ] * len(lines)


def test_a_cycle_line_shows_position_pnl_and_buy_and_hold(tmp_path: Path) -> None:
    _, out = run_replay(tmp_path / "story.db", hours=4, start=DAY)
    filled = [line for line in cycle_lines(out) if "BUY filled" in line]
    assert filled
    position, pnl, hold, _, wakeup = filled[0].split()[-5:]
    assert Decimal(position) > 0  # BTC held after the buy
    assert pnl.endswith("%") and hold.endswith("%") and wakeup.endswith("m")


def _one_cycle_db(tmp_path: Path, reason: str) -> tuple[Database, Cycle]:
    db = Database.open(tmp_path / "fallback.db")
    now, trace = DAY, "trace_" + "ab" * 16
    db.append_values(
        (
            Decision,
            {
                "ts_utc": now,
                "agent": "TRADER",
                "trace_id": trace,
                "payload_json": '{"action": "HOLD"}',
                "fallback_reason": reason,
            },
        ),
        (
            PortfolioSnapshot,
            {
                "ts_utc": now,
                "balance_usdt": Decimal(1000),
                "balance_btc": Decimal(0),
                "unrealized_pnl_usdt": Decimal(0),
                "realized_pnl_usdt": Decimal(0),
                "balances_json": '{"USDT": "1000"}',
                "symbol": "BTC/USDT",
                "price": Decimal(100000),
                "equity": Decimal(1000),
                "run_id": "run_x",
            },
        ),
    )
    row = Cycle(
        run_id="run_x",
        trace_id=trace,
        cycle_ts=now,
        wall_ts=now,
        status="OK",
        plan_mode="TRADE",
        arm="cash",
        explore=False,
        action="HOLD",
        verdict="APPROVE",
        wakeup_secs=300,
        duration_ms=1.0,
        fallbacks=1,
    )
    return db, row


def test_a_fallback_gives_its_reason_in_a_few_words_within_80_columns(tmp_path: Path) -> None:
    reason = (
        "model output failed validation twice: qty '0.00001' is below the market's minimum "
        "notional of 5 USDT at this price, so the safe answer HOLD was used instead"
    )
    db, row = _one_cycle_db(tmp_path, reason)
    out = io.StringIO()
    ConsoleView(Console(file=out, width=200), db=db).cycle(row)
    lines = out.getvalue().splitlines()
    (why,) = [line for line in lines if "fallback" in line]
    assert "↳ fallback (trader): model output failed validation" in why
    assert len(why) <= WIDTH and why.endswith("…")
    assert why[:-1].split()[-1] in reason.split()  # cut between words, not inside one
    db.close()


def test_clip_cuts_between_words() -> None:
    assert clip("short enough", 80) == "short enough"
    assert clip("one two three four", 12) == "one two…"


def _progress_after(
    view_cycles: list[tuple[datetime, int]], span: tuple[datetime, datetime]
) -> str:
    out = io.StringIO()
    view = ConsoleView(Console(file=out, width=WIDTH), "WARNING")
    with view.replay_progress(*span):
        for moment, wakeup in view_cycles:
            row = Cycle(
                run_id="r",
                trace_id=f"trace_{moment:%H%M}",
                cycle_ts=moment,
                wall_ts=moment,
                status="OK",
                wakeup_secs=wakeup,
                duration_ms=1.0,
            )
            view.cycle(row)
    return out.getvalue()


def test_after_a_stop_the_progress_bar_shows_where_the_run_stopped() -> None:
    start = DAY
    span = (start, start + timedelta(hours=10))
    text = _progress_after([(start, 1200), (start + timedelta(minutes=40), 1200)], span)
    assert "10.0%" in text and "2025-09-29 01:00" in text  # the next cycle would be at 01:00
    assert "100.0%" not in text


def test_a_finished_replay_shows_the_whole_span() -> None:
    span = (DAY, DAY + timedelta(hours=1))
    text = _progress_after([(DAY + timedelta(minutes=50), 1200)], span)
    assert "100.0%" in text


def test_debug_adds_each_agents_decision_and_the_tool_calls(tmp_path: Path) -> None:
    _, out = run_replay(tmp_path / "debug.db", hours=2, start=DAY, log_level="DEBUG")
    assert "planner (offline-planner):" in out and "judge (offline-judge):" in out
    assert "tool get_ohlcv" in out and "tool compute_indicators" in out


def test_log_file_gets_the_story_as_plain_text(tmp_path: Path) -> None:
    log = tmp_path / "run.log"
    _, out = run_replay(tmp_path / "log.db", hours=1, start=DAY, log_file=log)
    text = log.read_text()
    assert HEADER in text and cycle_lines(text) == cycle_lines(out)
    assert "\x1b[" not in text and "schema-valid outputs" in text
