"""Reading real candle files: `timestamp_ms,open,high,low,close,volume`, plain or gzip.

Malformed, duplicate or unsorted rows raise DataError naming the file and line; gaps (the
exchange does have outages) are returned as warnings with their line numbers, not hidden.
"""

from __future__ import annotations

import csv
import gzip
import io
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import NamedTuple

from autotrader.clock import from_ms
from autotrader.errors import DataError

HEADER = ["timestamp_ms", "open", "high", "low", "close", "volume"]


class Candle(NamedTuple):
    """One OHLCV candle; `ts` is its open time in UTC milliseconds."""

    ts: int
    open: float
    high: float
    low: float
    close: float
    volume: float


@dataclass(frozen=True)
class CandleFile:
    candles: list[Candle]
    step_ms: int
    gaps: list[str]


def _rows(path: Path) -> Iterator[list[str]]:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as raw, io.TextIOWrapper(raw, encoding="utf-8") as text:
            yield from csv.reader(text)
    except (OSError, EOFError, UnicodeDecodeError) as error:
        raise DataError(f"{path}: cannot read candles ({error})") from None


def _parse(path: Path, line: int, row: Sequence[str]) -> Candle:
    if len(row) != len(HEADER):
        raise DataError(f"{path}:{line}: expected {len(HEADER)} fields, got {len(row)}")
    try:
        ts = int(row[0])
        open_, high, low, close, volume = (float(value) for value in row[1:])
    except ValueError:
        raise DataError(f"{path}:{line}: not a number in {','.join(row)}") from None
    if not all(math.isfinite(v) for v in (open_, high, low, close, volume)):
        raise DataError(f"{path}:{line}: non-finite value in {','.join(row)}")
    if min(open_, high, low, close) <= 0 or volume < 0:
        raise DataError(f"{path}:{line}: prices must be positive and volume not negative")
    if high < max(open_, close, low) or low > min(open_, close):
        raise DataError(f"{path}:{line}: high/low do not bound open/close")
    return Candle(ts, open_, high, low, close, volume)


def load_candles(path: Path) -> CandleFile:
    """Parse and check a candle file; the step is the smallest spacing between rows."""
    rows = _rows(path)
    header = next(rows, None)
    if header != HEADER:
        raise DataError(f"{path}:1: header must be {','.join(HEADER)}, got {header}")
    candles: list[Candle] = []
    lines: list[int] = []
    for line, row in enumerate(rows, start=2):
        if not row:
            continue
        candle = _parse(path, line, row)
        if candles and candle.ts == candles[-1].ts:
            raise DataError(
                f"{path}:{line}: duplicate timestamp {candle.ts} (also on line {lines[-1]}); "
                "remove one of the rows"
            )
        if candles and candle.ts < candles[-1].ts:
            raise DataError(
                f"{path}:{line}: timestamp {candle.ts} is before line {lines[-1]}'s "
                f"{candles[-1].ts}; sort the file by timestamp"
            )
        candles.append(candle)
        lines.append(line)
    if len(candles) < 2:
        raise DataError(f"{path}: needs at least two candles, found {len(candles)}")
    step = min(b.ts - a.ts for a, b in pairwise(candles))
    gaps = [
        f"{path}:{line}: {(b.ts - a.ts) // step - 1} missing candles "
        f"({(b.ts - a.ts) // 60_000} minutes after the previous row) before "
        f"{from_ms(b.ts).isoformat()}"
        for (a, b), line in zip(pairwise(candles), lines[1:], strict=True)
        if b.ts - a.ts != step
    ]
    return CandleFile(candles, step, gaps)


def resample(candles: Sequence[Candle], step_ms: int, target_ms: int) -> list[Candle]:
    """Aggregate candles into a coarser timeframe aligned to multiples of `target_ms`."""
    if target_ms == step_ms:
        return list(candles)
    if target_ms < step_ms or target_ms % step_ms:
        raise DataError(
            f"cannot build {target_ms // 60_000}m candles from {step_ms // 60_000}m data; "
            "choose a TIMEFRAME that is a multiple of the file's"
        )
    merged: list[Candle] = []
    for candle in candles:
        bucket = candle.ts - candle.ts % target_ms
        if merged and merged[-1].ts == bucket:
            last = merged[-1]
            high, low = max(last.high, candle.high), min(last.low, candle.low)
            merged[-1] = Candle(
                bucket, last.open, high, low, candle.close, last.volume + candle.volume
            )
        else:
            merged.append(candle._replace(ts=bucket))
    return merged
