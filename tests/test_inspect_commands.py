"""`runner.py runs`, `cycles`, `trades` and `decisions`: rich tables that fit 80 columns, show
each cycle's trace id (which `decisions` and `trace` accept), and answer bad input in one line."""

from __future__ import annotations

import io
import sqlite3
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from autotrader.cli import main


@pytest.fixture(autouse=True)
def eighty_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")


def run(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def fits(text: str) -> bool:
    return all(len(line) <= 80 for line in text.splitlines())


def test_runs_lists_the_run_with_its_result(replay_db: Path) -> None:
    code, out, _ = run("runs", "--db", str(replay_db))
    with sqlite3.connect(replay_db) as raw:
        (run_id,) = raw.execute("SELECT run_id FROM runs").fetchone()
    assert code == 0 and run_id in out and "finished" in out and "%" in out
    assert fits(out)


def test_cycles_shows_the_last_n_with_trace_ids_decisions_accepts(replay_db: Path) -> None:
    code, out, _ = run("cycles", "--db", str(replay_db), "--last", "5")
    assert code == 0 and fits(out)
    with sqlite3.connect(replay_db) as raw:
        last = [t for (t,) in raw.execute("SELECT trace_id FROM cycles ORDER BY id DESC LIMIT 5")]
    shown = [t[6:14] for t in last]
    assert all(short in out for short in shown)
    code, out, _ = run("decisions", shown[0], "--db", str(replay_db))
    assert code == 0 and fits(out)
    for agent in ("PLANNER", "TRADER", "JUDGE", "hypothesis", "decision"):
        assert agent in out


def test_cycles_filters_like_the_dashboard(replay_db: Path) -> None:
    code, out, _ = run("cycles", "--db", str(replay_db), "--filter", "executed", "--last", "50")
    with sqlite3.connect(replay_db) as raw:
        (executed,) = raw.execute("SELECT count(*) FROM cycles WHERE executed = 1").fetchone()
    assert code == 0 and f"the last {executed} of {executed} matching cycles" in out
    assert out.count(" filled ") == executed


def test_a_bad_filter_is_one_line_and_exit_2(replay_db: Path) -> None:
    code, out, err = run("cycles", "--db", str(replay_db), "--filter", "colour=red")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "unknown filter 'colour'" in err


def test_trades_show_round_trip_pnl_on_the_closing_sell(replay_db: Path) -> None:
    code, out, _ = run("trades", "--db", str(replay_db), "--last", "6")
    assert code == 0 and fits(out)
    sells = [line for line in out.splitlines() if " SELL " in line]
    assert sells and all(line.split()[-2].lstrip("+-").replace(".", "").isdigit() for line in sells)
    assert "round trips won" in out


def test_decisions_names_an_unknown_trace(replay_db: Path) -> None:
    code, _, err = run("decisions", "deadbeef", "--db", str(replay_db))
    assert code == 2 and "no trace 'deadbeef'" in err


def test_the_trace_command_takes_a_short_id_too(replay_db: Path) -> None:
    with sqlite3.connect(replay_db) as raw:
        (trace_id,) = raw.execute("SELECT trace_id FROM cycles LIMIT 1").fetchone()
    code, out, _ = run("trace", trace_id[6:14], "--db", str(replay_db))
    assert code == 0 and trace_id in out and "Planner -> Trader" in out
