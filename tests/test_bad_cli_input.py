"""Bad configuration, flags and databases through the real CLI, run in-process
(`autotrader.cli.main`): each case ends in exactly one line on stderr that names the offending
value, exit code 2 (1 for a database another program holds locked), no traceback, nothing on
stdout, and no file changed or created (a database that is not ours gets no -wal, -shm or lock
file beside it)."""

from __future__ import annotations

import hashlib
import io
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import autotrader.db
import autotrader.db.readonly
from autotrader.cli import main
from autotrader.db import Database

# --- the files a case starts from, made in an empty folder ---


def _random_bytes(folder: Path) -> None:
    (folder / "x.db").write_bytes(hashlib.sha256(b"seed").digest() * 256)  # 8 kB, not SQLite


def _ours(folder: Path, name: str = "ours.db") -> Path:
    """A real autotrader database, left in rollback-journal mode so reading it creates nothing."""
    Database.open(folder / name).engine.dispose()
    with sqlite3.connect(folder / name) as raw:
        raw.execute("PRAGMA journal_mode=DELETE")
    return folder / name


def _truncated(folder: Path) -> None:
    whole = _ours(folder, "whole.db").read_bytes()
    (folder / "x.db").write_bytes(whole[: len(whole) // 3])
    (folder / "whole.db").unlink()


def _another_applications(folder: Path) -> None:
    with sqlite3.connect(folder / "x.db") as raw:  # its own `decisions` table, not ours
        raw.execute("CREATE TABLE decisions (id INTEGER PRIMARY KEY, title TEXT, made TEXT)")
        raw.execute("INSERT INTO decisions (title, made) VALUES ('lunch', 'today')")
    raw.close()


def _newer(folder: Path) -> None:
    _ours(folder, "x.db")
    with sqlite3.connect(folder / "x.db") as raw:
        raw.execute("PRAGMA user_version = 999")
    raw.close()


def _ours_and_a_file(folder: Path) -> None:
    _ours(folder)
    (folder / "notes.txt").write_text("mine\n")


def _folder(folder: Path) -> None:
    (folder / "sub").mkdir()


BAD_DATABASES = {
    "random bytes": (_random_bytes, "x.db is not an SQLite database"),
    "a truncated file": (_truncated, "x.db is not an SQLite database"),
    "another application's": (_another_applications, "x.db holds another application's"),
    "a newer schema": (_newer, "schema version 999 is newer"),
}
COMMANDS = {
    "run": [],
    "trace": ["trace", "trace_0a1b"],
    "report": ["report"],
    "runs": ["runs"],
    "cycles": ["cycles"],
    "trades": ["trades"],
    "decisions": ["decisions", "trace_0a1b"],
    "serve": ["serve", "--port", "1"],
}


@dataclass(frozen=True)
class Case:
    name: str
    args: list[str]
    named: str  # the offending value, as the line must show it
    env: dict[str, str] = field(default_factory=dict)
    make: Callable[[Path], object] | None = None
    code: int = 2


DATABASE_CASES = [
    Case(f"{kind} for {command}", [*args, "--db", "x.db"], named, make=make)
    for kind, (make, named) in BAD_DATABASES.items()
    for command, args in COMMANDS.items()
]
FLAG_CASES = [
    Case("--hours nan", ["--hours", "nan"], "--hours nan"),
    Case("--hours inf", ["--hours", "inf"], "--hours inf"),
    Case("--hours 1e9", ["--hours", "1e9"], "--hours 1000000000.0"),
    Case("--hours 0", ["--hours", "0"], "--hours 0.0"),
    Case("--hours -1", ["--hours", "-1"], "--hours -1.0"),
    Case("--hours in words", ["--hours", "two"], "'two'"),
    Case("--seed in words", ["--seed", "seven"], "'seven'"),
    Case("--seed too large for SQLite", ["--seed", str(2**63)], f"SEED={2**63}"),
    Case("--from a 13th month", ["--from", "2025-13-01"], "--from '2025-13-01'"),
    Case("--until in words", ["--until", "yesterday"], "--until 'yesterday'"),
    Case("an unknown command", ["rnu"], "'rnu'"),
    Case("an unknown flag", ["run", "--frm", "2025-09-10"], "--frm"),
    Case("trace without an id", ["trace"], "trace_id"),
    Case("serve on port 0", ["serve", "--port", "0"], "--port 0"),
    Case("serve on port 70000", ["serve", "--port", "70000"], "--port 70000"),
    Case("cycles --last 0", ["cycles", "--last", "0"], "--last 0"),
    Case("trades --last -3", ["trades", "--last", "-3"], "--last -3"),
    Case("sweep --workers 0", ["sweep", "spec.toml", "--workers", "0"], "--workers 0"),
    Case("sweep of a missing spec", ["sweep", "spec.toml"], "spec.toml"),
    Case("--replay of a missing file", ["--replay", "nope.csv"], "--replay 'nope.csv'"),
    Case("--replay of a folder", ["--replay", "sub"], "--replay 'sub'", make=_folder),
    Case("report with no database", ["report", "--db", "none.db"], "no database at none.db"),
    Case("runs with no database", ["runs", "--db", "none.db"], "no database at none.db"),
    Case("--db a folder", ["--db", "sub"], "DB_PATH='sub'", make=_folder),
    Case(
        "report --out an existing file",
        ["report", "--db", "ours.db", "--out", "notes.txt"],
        "--out 'notes.txt'",
        make=_ours_and_a_file,
    ),
    Case(
        "report --out under a file",
        ["report", "--db", "ours.db", "--out", "notes.txt/r"],
        "notes.txt is a file",
        make=_ours_and_a_file,
    ),
    Case(
        "cycles with an unknown filter",
        ["cycles", "--db", "ours.db", "--filter", "(("],
        "unknown filter '(('",
        make=_ours,
    ),
    Case("decisions of no such trace", ["decisions", "zz", "--db", "ours.db"], "'zz'", make=_ours),
    Case("trace of no such trace", ["trace", "zz", "--db", "ours.db"], "'zz'", make=_ours),
]
SETTING_CASES = [
    Case("a cap in Arabic-Indic digits", [], "DEPOSIT_CAP_USDT=", {"DEPOSIT_CAP_USDT": "\u0665"}),
    Case("a fraction in full-width digits", [], "ORDER_FRACTION=", {"ORDER_FRACTION": "\uff10.1"}),
    Case("a fee rate with an underscore", [], "FEE_RATE='0_1'", {"FEE_RATE": "0_1"}),
    Case("a slippage in exponent form", [], "SLIPPAGE='1e-3'", {"SLIPPAGE": "1e-3"}),
    Case("a starting balance of NaN", [], "PAPER_START_USDT='NaN'", {"PAPER_START_USDT": "NaN"}),
    Case("a model timeout of inf", [], "MODEL_TIMEOUT_SECS='inf'", {"MODEL_TIMEOUT_SECS": "inf"}),
    Case("a cycle deadline of 0", [], "CYCLE_DEADLINE_SECS='0'", {"CYCLE_DEADLINE_SECS": "0"}),
    Case("OHLCV_LIMIT in words", [], "OHLCV_LIMIT='many'", {"OHLCV_LIMIT": "many"}),
    Case("a symbol with a dash", [], "SYMBOL='BTC-USDT'", {"SYMBOL": "BTC-USDT"}),
    Case("a timeframe without a unit", [], "TIMEFRAME='5'", {"TIMEFRAME": "5"}),
    Case("a loud LOG_LEVEL", [], "LOG_LEVEL='LOUD'", {"LOG_LEVEL": "LOUD"}),
    Case("LOG_FILE a folder", [], "LOG_FILE='sub'", {"LOG_FILE": "sub"}, _folder),
    Case("REPLAY_PATH a folder", [], "REPLAY_PATH='sub'", {"REPLAY_PATH": "sub"}, _folder),
    Case("a base URL with a bad port", [], ":99999", {"OPENAI_BASE_URL": "http://h:99999/v1"}),
    Case(
        "a base URL with a password and a bad port",
        [],
        "me:***@h:x",
        {"OPENAI_BASE_URL": "http://me:PASS@h:x/v1"},
    ),
]
CASES = DATABASE_CASES + FLAG_CASES + SETTING_CASES


def _files(folder: Path) -> dict[str, str]:
    """Every file under `folder` (made by the case or not) with a digest of its bytes."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def run_cli(args: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(args)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty folder as the current directory (no .env), with a short busy timeout."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(autotrader.db, "BUSY_TIMEOUT_MS", 50)
    monkeypatch.setattr(autotrader.db.readonly, "BUSY_TIMEOUT_MS", 50)
    monkeypatch.setattr(autotrader.db, "LOCKED_FIRST_WAIT_SECS", 0.01)
    monkeypatch.setenv("COLUMNS", "100")
    yield tmp_path


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_bad_input_is_one_line_naming_it_and_changes_nothing(
    case: Case, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in case.env.items():
        monkeypatch.setenv(name, value)
    if case.make is not None:
        case.make(workdir)
    before = _files(workdir)
    code, out, err = run_cli(case.args)
    lines = err.strip().splitlines()
    assert (code, len(lines)) == (case.code, 1), err
    assert case.named in lines[0]
    assert "PASS" not in lines[0]
    assert out == ""
    assert _files(workdir) == before


def test_a_run_on_a_database_another_program_holds_locked_is_one_line_exit_1(
    workdir: Path,
) -> None:
    _ours(workdir)
    holder = sqlite3.connect(workdir / "ours.db", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # an sqlite3 shell in the middle of a write
    try:
        code, _, err = run_cli(["--hours", "1", "--db", "ours.db"])
    finally:
        holder.close()
    assert code == 1
    assert err.strip().splitlines() == [
        "autotrader: ours.db is locked by another program; close whatever holds it (an sqlite3 "
        "shell, a backup tool) and try again"
    ]


def test_reading_a_database_another_program_holds_locked_is_one_line_exit_1(
    workdir: Path,
) -> None:
    _ours(workdir)
    holder = sqlite3.connect(workdir / "ours.db", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        code, _, err = run_cli(["runs", "--db", "ours.db"])
    finally:
        holder.close()
    assert code == 1
    [line] = err.strip().splitlines()
    assert "ours.db is locked by another program" in line
