"""Reading real candle files: our CSV (`timestamp_ms,open,high,low,close,volume`, plain or gzip)
and freqtrade's `download-data` files (`.feather`, `.json`, `.json.gz`), each checked the same way.

Malformed, duplicate or unsorted rows raise DataError naming the file and line (CSV) or row;
gaps (the exchange does have outages) are returned as warnings, not hidden. The step is the
spacing of the bulk of the file: candles off its grid (Binance's hourly history has a day of
them after its Feb 2018 outage) are set aside and reported by line and time, and the replay
runs around them. The market and timeframe a file names (a `# market: BTC/USDT` line above
the CSV header, or the file name) are returned so that boot can check them against SYMBOL.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import math
import re
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import NamedTuple

from autotrader.config import TIMEFRAME_SECONDS
from autotrader.errors import DataError

HEADER = ["timestamp_ms", "open", "high", "low", "close", "volume"]
FREQTRADE_COLUMNS = ["date", "open", "high", "low", "close", "volume"]
MAX_TS_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z, the last time a datetime can hold
MAX_OFF_GRID_SHARE = 0.5  # past half, there is no bulk to infer the step from
SHOWN_CHARS = 80  # of a bad row, in an error line
# binance_BTCUSDT_5m_2025-09-06_2025-10-06.csv.gz (ours); BTC_USDT-5m.feather, BTC_USDT-1h.json,
# BTC_USDT_USDT-1h-futures.feather (freqtrade's).
OUR_NAME = re.compile(r"^[a-z0-9]+_(?P<pair>[A-Z0-9]{4,24})_(?P<tf>\d+[mhdw])(?:[_.])")
FREQTRADE_NAME = re.compile(
    r"^(?P<base>[A-Z0-9]{2,12})_(?P<quote>[A-Z0-9]{2,12})(?:_[A-Z0-9]+)?-(?P<tf>\d+[mhdw])"
    r"(?:-[a-z_]+)?\.(?:feather|json|json\.gz|jsongz)$"
)


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
    off_grid: list[str] = field(default_factory=list)  # runs of candles set aside, by line
    market: str | None = None  # as the file names it: "BTC/USDT" or "BTCUSDT"
    timeframe: str | None = None  # as the file name says it: "5m"


def step_text(step_ms: int) -> str:
    """A spacing as a timeframe name (`5m`, `1h`) when it is one, else in minutes or seconds."""
    for name, seconds in TIMEFRAME_SECONDS.items():
        if seconds * 1000 == step_ms:
            return name
    return f"{step_ms / 60_000:g}m" if step_ms % 60_000 == 0 else f"{step_ms / 1000:g}s"


def compact_market(market: str) -> str:
    """BTC/USDT, BTC_USDT and BTCUSDT all compare as BTCUSDT."""
    return re.sub(r"[/_\-]", "", market).upper()


def named_in_file_name(path: Path) -> tuple[str | None, str | None]:
    """(market, timeframe) named by our or freqtrade's file-name convention, if either fits."""
    ours = OUR_NAME.match(path.name)
    if ours:
        return ours["pair"], ours["tf"]
    theirs = FREQTRADE_NAME.match(path.name)
    if theirs:
        return f"{theirs['base']}/{theirs['quote']}", theirs["tf"]
    return None, None


def _shown(row: Sequence[object]) -> str:
    text = ",".join(str(value) for value in row)
    return text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS] + f"... ({len(text)} chars)"


def _iso(ts: int) -> str:
    moment = datetime.fromtimestamp(ts // 1000, UTC).replace(microsecond=ts % 1000 * 1000)
    return moment.isoformat(timespec="milliseconds" if ts % 1000 else "seconds")


# --- readers: each yields (number, fields): the CSV line number, or the row number ---


def _csv_rows(path: Path, comments: list[str]) -> Iterator[tuple[int, Sequence[object]]]:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as raw, io.TextIOWrapper(raw, encoding="utf-8") as text:
            reader = csv.reader(text)
            header_seen = False
            try:
                for row in reader:
                    if not header_seen:
                        if row and row[0].startswith("#"):
                            comments.append(",".join(row))
                            continue
                        if row != HEADER:
                            raise DataError(
                                f"{path}:{reader.line_num}: header must be "
                                f"{','.join(HEADER)}, got {_shown(row)!r}"
                            )
                        header_seen = True
                        continue
                    if row:
                        yield reader.line_num, row
            except csv.Error as error:  # a NUL byte, a field over the csv module's limit
                raise DataError(
                    f"{path}:{reader.line_num}: not a candle row ({error}); is this a candle file?"
                ) from None
            if not header_seen:
                raise DataError(f"{path}:1: header must be {','.join(HEADER)}, got nothing")
    except (OSError, EOFError, UnicodeDecodeError, zlib.error) as error:
        raise DataError(
            f"{path}: cannot read candles ({error}); the file is damaged or not "
            f"{'gzip' if path.suffix == '.gz' else 'UTF-8 text'}: fetch it again"
        ) from None


def _json_rows(path: Path) -> Iterator[tuple[int, Sequence[object]]]:
    """freqtrade's json/jsongz: one array of [open time ms, open, high, low, close, volume]."""
    opener = gzip.open if path.suffix in {".gz", ".jsongz"} else open
    try:
        with opener(path, "rb") as raw:
            data = json.load(raw)
    except (OSError, EOFError, UnicodeDecodeError, zlib.error, ValueError) as error:
        raise DataError(
            f"{path}: cannot read freqtrade JSON candles ({str(error)[:SHOWN_CHARS]}); "
            "the file is damaged: download it again"
        ) from None
    if not isinstance(data, list):
        raise DataError(f"{path}: expected a JSON array of candle rows, got {type(data).__name__}")
    for index, row in enumerate(data, start=1):
        if not isinstance(row, list):
            raise DataError(f"{path}: row {index}: expected [time, o, h, l, c, v], got {row!r}")
        yield index, row


def _feather_rows(path: Path) -> Iterator[tuple[int, Sequence[object]]]:
    """freqtrade's feather: columns date (a UTC timestamp), open, high, low, close, volume."""
    try:
        import pyarrow as pa
        from pyarrow import feather
    except ImportError:
        raise DataError(
            f"{path}: reading .feather needs pyarrow; install it with "
            "pip install -e '.[freqtrade]' (or convert the file to CSV)"
        ) from None
    try:
        table = feather.read_table(path)
    except (OSError, pa.ArrowException) as error:
        raise DataError(f"{path}: cannot read feather candles ({str(error)[:120]})") from None
    if table.column_names[:6] != FREQTRADE_COLUMNS:
        raise DataError(
            f"{path}: columns must be {','.join(FREQTRADE_COLUMNS)} (freqtrade's), "
            f"got {','.join(table.column_names)[:SHOWN_CHARS]}"
        )
    dates = table.column("date")
    if pa.types.is_timestamp(dates.type):
        dates = dates.cast(pa.timestamp("ms", tz="UTC")).cast(pa.int64())
    columns = [dates.to_pylist(), *(table.column(name).to_pylist() for name in HEADER[1:])]
    yield from enumerate(zip(*columns, strict=True), start=1)


def _rows(path: Path, comments: list[str]) -> tuple[str, Iterator[tuple[int, Sequence[object]]]]:
    """The unit rows are counted in ("line" or "row") and the rows."""
    name = path.name.lower()
    if name.endswith(".feather"):
        return "row", _feather_rows(path)
    if name.endswith((".json", ".json.gz", ".jsongz")):
        return "row", _json_rows(path)
    return "line", _csv_rows(path, comments)


# --- checks ---


def _timestamp(value: object) -> int:
    if isinstance(value, bool):
        raise ValueError
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError
        return int(value)
    if isinstance(value, str) and not value.isascii():
        raise ValueError  # int() takes any Unicode digit; a candle file has ASCII ones
    return int(value)  # type: ignore[call-overload, no-any-return]


def _price(value: object) -> float:
    if isinstance(value, bool) or (isinstance(value, str) and not value.isascii()):
        raise ValueError
    return float(value)  # type: ignore[arg-type]


class _BadRow(ValueError):
    """What is wrong with one row; the caller adds where it is (built only then: it is slow)."""


def _parse(row: Sequence[object]) -> Candle:
    if len(row) != len(HEADER):
        raise _BadRow(f"expected {len(HEADER)} fields, got {len(row)}")
    try:
        ts = _timestamp(row[0])
        open_, high, low, close, volume = (_price(value) for value in row[1:])
    except (ValueError, TypeError):
        raise _BadRow(f"not a number in {_shown(row)}") from None
    if not 0 <= ts <= MAX_TS_MS:
        raise _BadRow(
            f"timestamp {str(ts)[:30]} is "
            f"{'before 1970' if ts < 0 else 'past year 9999'}; timestamps are candle open "
            "times in UTC milliseconds"
        )
    if not all(math.isfinite(v) for v in (open_, high, low, close, volume)):
        raise _BadRow(f"non-finite value in {_shown(row)}")
    if min(open_, high, low, close) <= 0 or volume < 0:
        raise _BadRow("prices must be positive and volume not negative")
    if high < max(open_, close, low) or low > min(open_, close):
        raise _BadRow("high/low do not bound open/close")
    return Candle(ts, open_, high, low, close, volume)


def _market_comment(comments: list[str]) -> str | None:
    for comment in comments:
        found = re.match(r"^#\s*market\s*[:=]\s*(\S+)\s*$", comment, re.IGNORECASE)
        if found:
            return found[1]
    return None


def _runs(indices: Iterable[int]) -> list[list[int]]:
    """Consecutive indices grouped: [1, 2, 3, 7] -> [[1, 2, 3], [7]]."""
    runs: list[list[int]] = []
    for index in indices:
        if runs and runs[-1][-1] == index - 1:
            runs[-1].append(index)
        else:
            runs.append([index])
    return runs


@dataclass(frozen=True)
class _Place:
    """Where a row is, for messages: `c.csv:4` and `line 4`, or `f.json: row 4` and `row 4`."""

    path: Path
    unit: str

    def at(self, number: int) -> str:
        return f"{self.path}:{number}" if self.unit == "line" else f"{self.path}: row {number}"

    def named(self, number: int) -> str:
        return f"{self.unit} {number}"


def _set_aside(
    place: _Place, candles: list[Candle], numbers: list[int], step: int
) -> tuple[set[int], list[str]]:
    """Indices of the candles off the bulk's grid, and one warning per run of them."""
    anchor = Counter(c.ts % step for c in candles).most_common(1)[0][0]
    off = [i for i, c in enumerate(candles) if (c.ts - anchor) % step]
    if len(off) > MAX_OFF_GRID_SHARE * len(candles):
        first = off[0]
        raise DataError(
            f"{place.at(numbers[first])}: {len(off)} of {len(candles)} candles are off the "
            f"{step_text(step)} grid of the rest (the first opens at {_iso(candles[first].ts)}); "
            "the file is not regular candles: resample it to one step"
        )
    notes = []
    for run in _runs(off):
        first, last = run[0], run[-1]
        where = place.at(numbers[first])
        if first != last:
            where += f" to {place.named(numbers[last])}"
        notes.append(
            f"{where}: {len(run)} candle(s) off the {step_text(step)} grid "
            f"({_iso(candles[first].ts)} to {_iso(candles[last].ts)}) set aside; "
            "the replay runs around them"
        )
    return set(off), notes


def _check_names(path: Path, comments: list[str], step: int) -> tuple[str | None, str | None]:
    """The market and timeframe the file names; a name that contradicts the data is an error."""
    named_market, named_tf = named_in_file_name(path)
    if named_tf is not None and TIMEFRAME_SECONDS.get(named_tf, 0) * 1000 not in {0, step}:
        raise DataError(
            f"{path}: the file name says {named_tf} but its candles are {step_text(step)} "
            "apart; rename the file or check its data"
        )
    market = _market_comment(comments)
    if market and named_market and compact_market(market) != compact_market(named_market):
        raise DataError(
            f"{path}: its header names {market} but its file name {named_market}; make them agree"
        )
    return market or named_market, named_tf


def load_candles(path: Path) -> CandleFile:
    """Parse and check a candle file (format by extension; CSV unless .feather or .json)."""
    comments: list[str] = []
    unit, rows = _rows(path, comments)
    place = _Place(path, unit)
    candles: list[Candle] = []
    numbers: list[int] = []
    for number, row in rows:
        try:
            candle = _parse(row)
        except _BadRow as bad:
            raise DataError(f"{place.at(number)}: {bad}") from None
        if candles and candle.ts == candles[-1].ts:
            raise DataError(
                f"{place.at(number)}: duplicate timestamp {candle.ts} "
                f"(also on {place.named(numbers[-1])}); remove one of the rows"
            )
        if candles and candle.ts < candles[-1].ts:
            raise DataError(
                f"{place.at(number)}: timestamp {candle.ts} is before {place.named(numbers[-1])}'s "
                f"{candles[-1].ts}; sort the file by timestamp"
            )
        candles.append(candle)
        numbers.append(number)
    if len(candles) < 2:
        raise DataError(f"{path}: needs at least two candles, found {len(candles)}")
    # The spacing of the bulk of the file (ties: the smaller), not the smallest one seen.
    spacings = Counter(b.ts - a.ts for a, b in pairwise(candles))
    step = min(spacings, key=lambda gap: (-spacings[gap], gap))
    off, off_grid = _set_aside(place, candles, numbers, step)
    if off:
        candles = [c for i, c in enumerate(candles) if i not in off]
        numbers = [n for i, n in enumerate(numbers) if i not in off]
    market, timeframe = _check_names(path, comments, step)
    gaps = [
        f"{place.at(number)}: {(b.ts - a.ts) // step - 1} missing candles "
        f"({(b.ts - a.ts) // 60_000} minutes after the previous row) before {_iso(b.ts)}"
        for (a, b), number in zip(pairwise(candles), numbers[1:], strict=True)
        if b.ts - a.ts != step
    ]
    return CandleFile(candles, step, gaps, off_grid, market, timeframe)


def resample(candles: Sequence[Candle], step_ms: int, target_ms: int) -> list[Candle]:
    """Aggregate candles into a coarser timeframe aligned to multiples of `target_ms`."""
    if target_ms == step_ms:
        return list(candles)
    if target_ms < step_ms or target_ms % step_ms:
        raise DataError(
            f"cannot build {step_text(target_ms)} candles from {step_text(step_ms)} data; "
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


def describe_file(loaded: CandleFile) -> str:
    """`8,727 5m candles, 2025-09-06 00:00 to 2025-10-06 07:10 UTC`, for messages."""
    first, last = loaded.candles[0].ts, loaded.candles[-1].ts
    return (
        f"{len(loaded.candles):,} {step_text(loaded.step_ms)} candles, "
        f"{_iso(first)[:16].replace('T', ' ')} to {_iso(last)[:16].replace('T', ' ')} UTC"
    )
