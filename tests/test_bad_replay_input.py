"""Bad replay input through the real CLI: each case exits 2 with exactly one line on stderr that
names the offending value, no traceback, and no file changed (no database is created)."""

from __future__ import annotations

import gzip
import hashlib
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from autotrader.config import BUNDLED_CANDLES, bundled_data_path
from tests.conftest import REPO_ROOT, clean_env

BUNDLED = bundled_data_path(BUNDLED_CANDLES)


def _real_lines(count: int) -> list[str]:
    """The header and the first `count` real rows of the bundled candles."""
    with gzip.open(BUNDLED, "rt") as text:
        return [next(text) for _ in range(count + 1)]


def _corrupt_gzip(folder: Path) -> Path:
    data = bytearray(BUNDLED.read_bytes())
    for index in range(2000, 2016):  # a damaged stretch early in the deflate stream
        data[index] ^= 0xFF
    path = folder / "binance_BTCUSDT_5m_damaged.csv.gz"
    path.write_bytes(bytes(data))
    return path


def _past_9999(folder: Path) -> Path:
    lines = _real_lines(300)
    fields = lines[150].split(",")
    lines[150] = ",".join(["253402300800000", *fields[1:]])  # 10000-01-01T00:00Z
    path = folder / "far_future.csv"
    path.write_text("".join(lines))
    return path


def _huge_field(folder: Path) -> Path:
    lines = _real_lines(300)
    lines[10] = lines[10].rstrip("\n") + "," + "9" * 200_000 + "\n"
    path = folder / "huge_field.csv"
    path.write_text("".join(lines))
    return path


def _short_file(folder: Path) -> Path:
    path = folder / "binance_BTCUSDT_5m_short.csv"
    path.write_text("".join(_real_lines(60)))
    return path


def _misnamed_timeframe(folder: Path) -> Path:
    path = folder / "binance_BTCUSDT_1h_2025-09-06.csv"
    path.write_text("".join(_real_lines(300)))
    return path


def _bad_json(folder: Path) -> Path:
    path = folder / "BTC_USDT-5m.json"
    path.write_text("[[1757116800000, 110619.99, 110700.0, 110600.0, 110650.0, 1.5], [175")
    return path


@dataclass(frozen=True)
class Case:
    name: str
    named: str  # the offending value, as the error line must show it
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    make_file: Callable[[Path], Path] | None = None  # passed as --replay


CASES = [
    Case("corrupt gzip data", "damaged.csv.gz: cannot read", make_file=_corrupt_gzip),
    Case("a timestamp past year 9999", "253402300800000", make_file=_past_9999),
    Case("a 200 kB CSV field", "huge_field.csv:11", make_file=_huge_field),
    Case("a file shorter than OHLCV_LIMIT", "OHLCV_LIMIT=100", make_file=_short_file),
    Case("TIMEFRAME=1d on 5m data", "TIMEFRAME=1d", env={"TIMEFRAME": "1d"}),
    Case("TIMEFRAME=1m on 5m data", "TIMEFRAME=1m", env={"TIMEFRAME": "1m"}),
    Case("an empty REPLAY_PATH", "REPLAY_PATH=''", env={"REPLAY_PATH": ""}),
    Case(
        "a REPLAY_PATH that is no file", "REPLAY_PATH='nope.csv'", env={"REPLAY_PATH": "nope.csv"}
    ),
    Case(
        "--until before --from",
        "--until 2025-09-10",
        ["--from", "2025-09-12", "--until", "2025-09-10"],
    ),
    Case("--until before the data", "--until 2025-01-01", ["--until", "2025-01-01"]),
    Case("--from after the data", "--from 2026-01-01", ["--from", "2026-01-01"]),
    Case("SYMBOL=ETH/USDT on the bundled BTC file", "SYMBOL=ETH/USDT", env={"SYMBOL": "ETH/USDT"}),
    Case("a file name whose timeframe is not the data's", "says 1h", make_file=_misnamed_timeframe),
    Case("truncated freqtrade JSON", "BTC_USDT-5m.json", make_file=_bad_json),
]


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_bad_replay_input_is_one_line_exit_2_and_changes_nothing(
    case: Case, tmp_path: Path
) -> None:
    args = [*case.args, "--db", str(tmp_path / "run.db")]
    if case.make_file is not None:
        args += ["--replay", str(case.make_file(tmp_path))]
    before = _digest(tmp_path)
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "runner.py"), *args],
        cwd=tmp_path,
        env=clean_env(**case.env),
        capture_output=True,
        text=True,
        timeout=60,
    )
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert case.named in lines[0]
    assert len(lines[0]) < 400
    assert _digest(tmp_path) == before  # no database created, the input untouched
