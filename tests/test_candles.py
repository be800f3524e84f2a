"""Candle files: real data loads; gaps, duplicates and unsorted rows are named by line."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from autotrader.config import BUNDLED_CANDLES, bundled_data_path
from autotrader.errors import DataError
from autotrader.exchange.candles import load_candles, resample

HEADER = "timestamp_ms,open,high,low,close,volume\n"


def _write(tmp_path: Path, rows: list[str], name: str = "c.csv") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + "".join(row + "\n" for row in rows))
    return path


def _row(minute: int, close: float = 100.0) -> str:
    return f"{minute * 300_000},{close},{close + 1},{close - 1},{close},1.5"


def test_bundled_real_candles_load_without_gaps() -> None:
    loaded = load_candles(bundled_data_path(BUNDLED_CANDLES))
    assert len(loaded.candles) == 8727
    assert loaded.step_ms == 300_000
    assert loaded.gaps == []
    assert loaded.candles[0].ts == 1757116800000  # 2025-09-06T00:00Z
    assert loaded.candles[0].close == 110619.99


def test_gzip_and_plain_files_read_the_same(tmp_path: Path) -> None:
    plain = _write(tmp_path, [_row(0), _row(1), _row(2)])
    zipped = tmp_path / "c.csv.gz"
    zipped.write_bytes(gzip.compress(plain.read_bytes()))
    assert load_candles(plain).candles == load_candles(zipped).candles


def test_a_gap_is_reported_with_its_line_number(tmp_path: Path) -> None:
    path = _write(tmp_path, [_row(0), _row(1), _row(5), _row(6)])
    loaded = load_candles(path)
    assert loaded.gaps == [
        f"{path}:4: 3 missing candles (20 minutes after the previous row) before "
        "1970-01-01T00:25:00+00:00"
    ]


def test_a_duplicate_row_is_an_error_naming_both_lines(tmp_path: Path) -> None:
    path = _write(tmp_path, [_row(0), _row(1), _row(1)])
    with pytest.raises(DataError, match=r"c\.csv:4: duplicate timestamp 300000 \(also on line 3\)"):
        load_candles(path)


def test_an_unsorted_row_is_an_error_naming_its_line(tmp_path: Path) -> None:
    path = _write(tmp_path, [_row(0), _row(2), _row(1)])
    with pytest.raises(DataError, match=r"c\.csv:4: timestamp 300000 is before line 3"):
        load_candles(path)


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        ("0,1,2,3", "expected 6 fields"),
        ("0,abc,2,1,1,1", "not a number"),
        ("0,1,2,1,nan,1", "non-finite"),
        ("0,5,4,1,3,1", "high/low do not bound"),
        ("0,-1,2,-2,1,1", "must be positive"),
    ],
)
def test_a_malformed_row_is_an_error_naming_its_line(
    tmp_path: Path, row: str, problem: str
) -> None:
    path = _write(tmp_path, [row, _row(1)])
    with pytest.raises(DataError, match=rf"c\.csv:2: .*{problem}"):
        load_candles(path)


def test_a_wrong_header_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("time,o,h,l,c,v\n0,1,1,1,1,1\n")
    with pytest.raises(DataError, match=r"c\.csv:1: header must be"):
        load_candles(path)


def test_resampling_5m_to_15m_aggregates_ohlcv() -> None:
    candles = load_candles(bundled_data_path(BUNDLED_CANDLES)).candles[:6]
    merged = resample(candles, 300_000, 900_000)
    assert len(merged) == 2
    first = merged[0]
    assert first.ts == candles[0].ts
    assert first.open == candles[0].open and first.close == candles[2].close
    assert first.high == max(c.high for c in candles[:3])
    assert first.low == min(c.low for c in candles[:3])
    assert first.volume == pytest.approx(sum(c.volume for c in candles[:3]))


def test_resampling_to_a_finer_timeframe_is_refused() -> None:
    candles = load_candles(bundled_data_path(BUNDLED_CANDLES)).candles[:3]
    with pytest.raises(DataError, match="cannot build 1m candles from 5m data"):
        resample(candles, 300_000, 60_000)
