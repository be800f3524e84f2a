"""The autonomous loop, run for real on the bundled candles: the seed's V1 acceptance, resume,
error back-off, configuration errors, the console, and the trace command."""

from __future__ import annotations

import gc
import io
import json
import sqlite3
from contextlib import redirect_stderr, redirect_stdout
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from autotrader.cli import main
from autotrader.core import orchestrator
from autotrader.errors import ConfigError, VenueUnavailable
from autotrader.exchange.feeds import ReplayFeed
from autotrader.research.summary import SCHEMA_OF
from autotrader.schemas import seed_validator
from tests.helpers import run_replay

ACCEPTANCE_DAY = datetime(2025, 9, 29, tzinfo=UTC)  # a Monday of the bundled month


def _rows(path: Path, query: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as raw:
        return raw.execute(query).fetchall()


@pytest.fixture(scope="module")
def acceptance_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("v1") / "v1.db"
    code, _ = run_replay(path, hours=24)  # `runner.py --hours 24`: the data's first day
    assert code == 0
    return path


def test_v1_decisions_accumulate_for_every_agent(acceptance_db: Path) -> None:
    cycles = _rows(acceptance_db, "SELECT count(*) FROM cycles WHERE status = 'OK'")[0][0]
    counts = dict(_rows(acceptance_db, "SELECT agent, count(*) FROM decisions GROUP BY agent"))
    assert cycles > 50
    assert counts == {"PLANNER": cycles, "TRADER": cycles, "JUDGE": cycles}
    linked = _rows(
        acceptance_db,
        "SELECT count(DISTINCT trace_id) FROM decisions "
        "WHERE trace_id IN (SELECT trace_id FROM cycles)",
    )[0][0]
    assert linked == cycles


def test_v1_at_least_ten_executed_trades_with_unique_keys(acceptance_db: Path) -> None:
    trades, keys = _rows(
        acceptance_db, "SELECT count(*), count(DISTINCT idempotency_key) FROM trades"
    )[0]
    assert trades >= 10
    assert keys == trades
    executed = _rows(acceptance_db, "SELECT count(*) FROM cycles WHERE executed = 1")[0][0]
    assert executed == trades


def test_v1_the_planner_varies_its_wakeup(acceptance_db: Path) -> None:
    wakeups = _rows(
        acceptance_db,
        "SELECT DISTINCT json_extract(payload_json, '$.next_wakeup_secs') FROM decisions "
        "WHERE agent = 'PLANNER'",
    )
    assert len(wakeups) >= 2


def test_v1_every_stored_model_output_is_valid_against_the_seed_schemas(
    acceptance_db: Path,
) -> None:
    validators = {a: seed_validator(n) for a, n in SCHEMA_OF.items()}
    rows = _rows(acceptance_db, "SELECT agent, payload_json FROM decisions")
    invalid = [p for agent, p in rows if not validators[agent].is_valid(json.loads(p))]
    assert rows and invalid == []


def test_v1_memory_holds_experiment_records(acceptance_db: Path) -> None:
    notes = _rows(acceptance_db, "SELECT value_json FROM memory WHERE key LIKE 'experiment:%'")
    assert len(notes) >= 1
    record = json.loads(notes[0][0])
    assert {"arm", "hypothesis", "action", "entry_price"} <= set(record)
    measured = _rows(acceptance_db, "SELECT count(*) FROM experiments WHERE status = 'MEASURED'")
    assert measured[0][0] > 0


def test_v1_the_run_is_marked_done_with_a_snapshot_per_cycle(acceptance_db: Path) -> None:
    assert _rows(acceptance_db, "SELECT status FROM runs") == [("DONE",)]
    snapshots = _rows(acceptance_db, "SELECT count(*) FROM portfolio")[0][0]
    cycles = _rows(acceptance_db, "SELECT count(*) FROM cycles")[0][0]
    assert snapshots == cycles + 1  # and one of the balance the run started with


def test_returns_start_from_the_balance_the_run_started_with(acceptance_db: Path) -> None:
    """The first mark is the seed balance, before the first trade's fee and spread."""
    (first_equity, first_ts), *_ = _rows(
        acceptance_db, "SELECT equity, ts_utc FROM portfolio ORDER BY id LIMIT 1"
    )
    (first_cycle_ts,) = _rows(acceptance_db, "SELECT min(cycle_ts) FROM cycles")[0]
    assert Decimal(first_equity) == Decimal("1000")
    assert first_ts <= first_cycle_ts


# --- resume ---


def test_a_stopped_replay_resumes_where_it_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "resume.db"
    original = orchestrator.Orchestrator.cycle
    calls = {"n": 0}

    async def stop_after_30(self: orchestrator.Orchestrator, candle: Any = None) -> Any:
        calls["n"] += 1
        if calls["n"] == 30:
            self.stop.request()
        return await original(self, candle)

    monkeypatch.setattr(orchestrator.Orchestrator, "cycle", stop_after_30)
    code, out = run_replay(path, hours=12, start=ACCEPTANCE_DAY)
    assert code == 0 and "STOPPED" in out
    monkeypatch.setattr(orchestrator.Orchestrator, "cycle", original)
    first_half = _rows(path, "SELECT cycle_ts FROM cycles ORDER BY id")
    assert len(first_half) == 30

    code, out = run_replay(path, hours=12, start=ACCEPTANCE_DAY)
    assert code == 0 and "(resumed)" in out
    resumed = _rows(path, "SELECT cycle_ts FROM cycles ORDER BY id")
    reference = tmp_path / "straight.db"
    run_replay(reference, hours=12, start=ACCEPTANCE_DAY)
    assert resumed == _rows(reference, "SELECT cycle_ts FROM cycles ORDER BY id")
    trades = "SELECT ts_utc, side, qty, price FROM trades ORDER BY id"
    assert _rows(path, trades) == _rows(reference, trades)
    assert _rows(path, "SELECT count(*), status FROM runs") == [(1, "DONE")]


# --- one decision per closed candle ---


def test_the_loop_runs_with_boots_objects_frozen_and_leaves_nothing_frozen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    frozen: list[int] = []
    cycle = orchestrator.Orchestrator.cycle

    async def counted(self: orchestrator.Orchestrator, candle: datetime | None = None) -> Any:
        frozen.append(gc.get_freeze_count())
        return await cycle(self, candle)

    monkeypatch.setattr(orchestrator.Orchestrator, "cycle", counted)
    code, _ = run_replay(tmp_path / "gc.db", hours=1, start=ACCEPTANCE_DAY)
    assert code == 0 and frozen and min(frozen) > 100_000  # a full collection skips them
    assert gc.get_freeze_count() == 0  # given back to the collector on the way out


def test_wakeups_inside_a_candle_decide_nothing_until_the_next_one_closes(
    tmp_path: Path,
) -> None:
    """On 4h candles the Planner wakes hourly at most (the seed's schema caps the wakeup at
    3,600 s): only the first wake-up after each close decides, trades or starts an
    experiment, so 48 hours are 12 or 13 decided cycles, not 48."""
    path = tmp_path / "4h.db"
    code, _ = run_replay(path, hours=48, start=ACCEPTANCE_DAY, timeframe="4h")
    assert code == 0
    cycles = _rows(path, "SELECT candle_ts, wakeup_secs FROM cycles WHERE status = 'OK'")
    candles = [candle for candle, _ in cycles]
    assert len(candles) == len(set(candles)) in (12, 13)
    assert any(wakeup < 4 * 3600 for _, wakeup in cycles)  # it did wake inside candles
    per_candle = _rows(
        path,
        "SELECT c.candle_ts, count(*) FROM experiments e JOIN cycles c USING (trace_id) "
        "GROUP BY c.candle_ts HAVING count(*) > 1",
    )
    assert per_candle == []


def test_a_restart_inside_a_candle_does_not_decide_on_it_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "4h.db"
    original = orchestrator.Orchestrator.cycle

    async def stop_at_the_second(self: orchestrator.Orchestrator, candle: Any = None) -> Any:
        row = await original(self, candle)
        if candle is not None and candle.hour == 4:
            self.stop.request()  # the loop leaves inside the 04:00-08:00 candle
        return row

    monkeypatch.setattr(orchestrator.Orchestrator, "cycle", stop_at_the_second)
    code, out = run_replay(path, hours=12, start=ACCEPTANCE_DAY, timeframe="4h")
    assert code == 0 and "STOPPED" in out
    monkeypatch.setattr(orchestrator.Orchestrator, "cycle", original)
    code, out = run_replay(path, hours=12, start=ACCEPTANCE_DAY, timeframe="4h")
    assert code == 0 and "(resumed)" in out
    candles = [c for (c,) in _rows(path, "SELECT candle_ts FROM cycles WHERE status = 'OK'")]
    assert len(candles) == len(set(candles)) == 4  # 00:00, 04:00, 08:00, 12:00


def test_an_order_sent_inside_a_candle_is_booked_when_it_fills_at_the_next_open(
    tmp_path: Path,
) -> None:
    """A run that starts an hour into a 4h candle decides at once; its order fills at the next
    open, three hours later, and its cycle stays open until then: every trade is booked at a
    candle's open, never before the clock gets there."""
    from autotrader.config import load_settings
    from tests.fakes.traders import restless_models

    path = tmp_path / "inside.db"
    start = datetime(2025, 9, 25, 1, tzinfo=UTC)
    models = restless_models(load_settings(env_file=None, timeframe="4h"))
    code, out = run_replay(path, hours=24, start=start, timeframe="4h", model_set=models)
    assert code == 0 and "left open" not in out
    trades = _rows(path, "SELECT t.ts_utc, c.cycle_ts FROM trades t JOIN cycles c USING (trace_id)")
    assert trades[0] == ("2025-09-25T04:00:00.000+00:00", "2025-09-25T01:00:00.000+00:00")
    for booked, decided in trades:
        assert booked >= decided and datetime.fromisoformat(booked).hour % 4 == 0
    before_the_fill = _rows(
        path, f"SELECT balance_btc FROM portfolio WHERE ts_utc < '{trades[0][0]}'"
    )
    assert before_the_fill and {Decimal(btc) for (btc,) in before_the_fill} == {Decimal(0)}


# --- errors ---


def test_a_venue_outage_is_logged_and_retried_with_back_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = ReplayFeed.last_price
    failures = {"left": 3, "calls": 0}

    def flaky(self: ReplayFeed) -> Decimal:
        failures["calls"] += 1
        if failures["calls"] > 1 and failures["left"]:  # after the starting balance's mark
            failures["left"] -= 1
            raise VenueUnavailable("fetch_ticker failed 5 times: ExchangeNotAvailable")
        return original(self)

    monkeypatch.setattr(ReplayFeed, "last_price", flaky)
    code, out = run_replay(tmp_path / "outage.db", hours=6, start=ACCEPTANCE_DAY)
    assert code == 0
    rows = _rows(
        tmp_path / "outage.db", "SELECT status, wakeup_secs, error FROM cycles ORDER BY id"
    )
    assert [(s, w) for s, w, _ in rows[:3]] == [("ERROR", 30), ("ERROR", 60), ("ERROR", 120)]
    assert "ExchangeNotAvailable" in rows[0][2]
    assert {s for s, _, _ in rows[3:]} == {"OK"}
    assert "cycle skipped" in out


def test_a_configuration_error_stops_the_loop_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def revoked(self: ReplayFeed) -> Decimal:
        raise ConfigError("the exchange refused the API key; check EXCHANGE_API_KEY")

    monkeypatch.setattr(ReplayFeed, "last_price", revoked)
    err = io.StringIO()
    with redirect_stderr(err), redirect_stdout(io.StringIO()):
        code = main(["--db", str(tmp_path / "c.db"), "--hours", "2"])
    assert code == 2
    assert err.getvalue().strip().splitlines() == [
        "autotrader: the exchange refused the API key; check EXCHANGE_API_KEY"
    ]


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--from", "yesterday"], "--from 'yesterday' is not an ISO date"),
        (["--from", "2030-01-01"], "is not inside the replay data"),
        (["--hours", "-3"], "--hours -3.0 must be positive"),
        (["--replay", "/nonexistent.csv"], "--replay '/nonexistent.csv' is not a file"),
    ],
)
def test_bad_command_line_values_get_one_line(tmp_path: Path, argv: list[str], named: str) -> None:
    err = io.StringIO()
    with redirect_stderr(err), redirect_stdout(io.StringIO()):
        code = main(["--db", str(tmp_path / "x.db"), *argv])
    assert code == 2
    lines = err.getvalue().strip().splitlines()
    assert len(lines) == 1 and named in lines[0]


def test_a_malformed_replay_file_is_named_with_its_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("timestamp_ms,open,high,low,close,volume\n0,1,1,1,1,1\n0,1,1,1,1,1\n")
    err = io.StringIO()
    with redirect_stderr(err), redirect_stdout(io.StringIO()):
        code = main(["--db", str(tmp_path / "x.db"), "--replay", str(bad)])
    assert code == 2
    assert f"{bad}:3: duplicate timestamp" in err.getvalue()


# --- console and trace command ---


def test_the_console_shows_banner_cycles_progress_and_summary(tmp_path: Path) -> None:
    _, out = run_replay(tmp_path / "console.db", hours=4, start=ACCEPTANCE_DAY)
    for field in ("mode", "paper", "BTC/USDT", "offline", "models", "venue", "database", "seed"):
        assert field in out
    assert "cycles/s" in out and "replay" in out
    assert "TRADE" in out and "next " in out  # per-cycle lines
    for row in (
        "cycles",
        "trades",
        "fees paid",
        "final equity",
        "buy & hold",
        "max drawdown",
        "schema-valid outputs",
        "guardrail trips",
        "fallback",
    ):
        assert row in out


def test_log_level_warning_hides_the_cycle_lines(tmp_path: Path) -> None:
    _, out = run_replay(tmp_path / "quiet.db", hours=4, start=ACCEPTANCE_DAY, log_level="WARNING")
    assert "next " not in out
    assert "schema-valid outputs" in out


def test_trace_command_prints_a_stored_cycle_as_a_tree(tmp_path: Path) -> None:
    path = tmp_path / "trace.db"
    run_replay(path, hours=1, start=ACCEPTANCE_DAY)
    trace_id = _rows(path, "SELECT trace_id FROM cycles LIMIT 1")[0][0]
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["trace", trace_id, "--db", str(path)]) == 0
    text = out.getvalue()
    assert trace_id in text and "Planner -> Trader" in text and "get_ohlcv" in text


def test_trace_command_names_an_unknown_trace(tmp_path: Path) -> None:
    path = tmp_path / "trace.db"
    run_replay(path, hours=1, start=ACCEPTANCE_DAY)
    err = io.StringIO()
    with redirect_stderr(err):
        assert main(["trace", "trace_nope", "--db", str(path)]) == 2
    assert "no trace 'trace_nope'" in err.getvalue()


def test_an_unreachable_venue_at_boot_is_one_line_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from autotrader.core import boot as app

    def unreachable(*args: Any, **kwargs: Any) -> Any:
        raise VenueUnavailable(
            "load_markets failed 5 times: NetworkError: binance GET /api/v3/exchangeInfo"
        )

    monkeypatch.setattr(app, "wire_market", unreachable)
    err = io.StringIO()
    with redirect_stderr(err), redirect_stdout(io.StringIO()):
        code = main(["--db", str(tmp_path / "x.db")])
    assert code == 1
    lines = err.getvalue().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("autotrader: cannot start: load_markets failed")


def test_keys_never_reach_the_console_or_the_database(tmp_path: Path) -> None:
    path = tmp_path / "secret.db"
    _, out = run_replay(
        path,
        hours=2,
        start=ACCEPTANCE_DAY,
        exchange_api_key="key-SHOULD-NOT-LEAK",
        exchange_api_secret="secret-SHOULD-NOT-LEAK",
    )
    assert "SHOULD-NOT-LEAK" not in out
    assert b"SHOULD-NOT-LEAK" not in path.read_bytes()


def test_the_weekly_evaluation_runs_in_the_loop_and_reaches_the_planner(tmp_path: Path) -> None:
    path = tmp_path / "week.db"
    run_replay(path, hours=7 * 24 + 2, log_level="WARNING")
    evaluations = _rows(
        path, "SELECT ts_utc, value_json FROM memory WHERE key LIKE 'weekly_evaluation:%'"
    )
    assert len(evaluations) == 1
    summary = json.loads(evaluations[0][1])
    assert {
        "return",
        "buy_and_hold",
        "max_drawdown",
        "trades",
        "arms",
        "best_arm_by_posterior",
    } <= set(summary)
    assert (
        summary["trades"]
        == _rows(path, f"SELECT count(*) FROM trades WHERE ts_utc <= '{evaluations[0][0]}'")[0][0]
    )
    # The orchestrator reads the latest evaluation into every later Planner brief.
    run_id = _rows(path, "SELECT run_id FROM runs")[0][0]
    from autotrader.db import Database
    from autotrader.research.evaluation import latest_evaluation

    assert latest_evaluation(Database.open(path), run_id) == summary


def test_report_command_works_on_the_database_a_run_leaves(tmp_path: Path) -> None:
    path = tmp_path / "run.db"
    run_replay(path, hours=12, start=ACCEPTANCE_DAY)
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["report", "--db", str(path)]) == 0
    assert "total return" in out.getvalue() and "strategy families" in out.getvalue()
    written = sorted(p.name.split("_", 2)[-1] for p in (tmp_path / "reports").iterdir())
    assert written == ["drawdown.png", "equity.png", "posteriors.png", "report.html"]
