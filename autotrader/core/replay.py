"""What a replay runs on, checked before anything heavy is imported: the candle file reads, is of
SYMBOL's market, gives TIMEFRAME candles, holds enough of them for the warm-up and OHLCV_LIMIT,
and --from/--until/--hours make a forward span inside it. Each refusal is one line (ConfigError
or DataError); the CLI runs these checks first so bad input answers at once, and boot runs the
same ones for every replay (the sweep's jobs included).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from autotrader.clock import from_ms
from autotrader.config import Settings
from autotrader.errors import ConfigError
from autotrader.exchange.candles import (
    Candle,
    compact_market,
    describe_file,
    load_candles,
    resample,
    step_text,
)

# Candles of history before a replay's first cycle: the regime features read this many. Equal to
# agents.briefs.REGIME_CANDLES (tests/test_replay_checks.py pins it); kept here so that this
# check needs no Agents SDK import.
WARMUP_CANDLES = 100


@dataclass(frozen=True)
class ReplayData:
    path: Path
    candles: list[Candle]  # at TIMEFRAME
    step_ms: int
    gaps: tuple[str, ...]  # holes in the data
    notes: tuple[str, ...]  # candles set aside, a file that names no market

    @property
    def first_close_ms(self) -> int:
        return self.candles[0].ts + self.step_ms

    @property
    def last_close_ms(self) -> int:
        return self.candles[-1].ts + self.step_ms


def load_replay(settings: Settings) -> ReplayData:
    """The replay file's candles at TIMEFRAME, or one line saying why they cannot be replayed."""
    path = settings.resolved_replay_path
    loaded = load_candles(path)
    notes = list(loaded.off_grid)
    if loaded.market is None:
        notes.append(
            f"{path.name} names no market; taking it as {settings.symbol} (add a line "
            f"'# market: {settings.symbol}' above its header to say so)"
        )
    elif compact_market(loaded.market) != compact_market(settings.symbol):
        raise ConfigError(
            f"SYMBOL={settings.symbol} but the replay file {path.name} holds {loaded.market} "
            f"candles; set SYMBOL to the file's market or replay a file of {settings.symbol} "
            "candles"
        )
    target_ms = settings.timeframe_seconds * 1000
    if target_ms < loaded.step_ms or target_ms % loaded.step_ms:
        raise ConfigError(
            f"TIMEFRAME={settings.timeframe} cannot be built from {path.name}, which holds "
            f"{step_text(loaded.step_ms)} candles; use TIMEFRAME={step_text(loaded.step_ms)} "
            "or a multiple of it"
        )
    candles = resample(loaded.candles, loaded.step_ms, target_ms)
    data = ReplayData(path, candles, target_ms, tuple(loaded.gaps), tuple(notes))
    if len(candles) < settings.ohlcv_limit or _earliest_start(data) >= from_ms(data.last_close_ms):
        raise ConfigError(
            f"{path.name} ({describe_file(loaded)}) gives {len(candles)} candles at "
            f"TIMEFRAME={settings.timeframe}; a replay needs OHLCV_LIMIT={settings.ohlcv_limit} "
            f"of them and more than {WARMUP_CANDLES} candles' time of warm-up: use a longer "
            "file or a shorter TIMEFRAME"
        )
    return data


def _earliest_start(data: ReplayData) -> datetime:
    return from_ms(data.first_close_ms) + timedelta(milliseconds=data.step_ms * WARMUP_CANDLES)


def _minute(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M}"


def replay_span(
    data: ReplayData,
    start: datetime | None,
    until: datetime | None,
    hours: float | None,
) -> tuple[datetime, datetime]:
    """Start after the warm-up (or at --from), end at --until, after --hours, or at the data's
    end, whichever comes first; a span that is empty or backwards is refused."""
    first, last = _earliest_start(data), from_ms(data.last_close_ms)
    inside = f"choose a time between {_minute(first)} and {_minute(last)} UTC"
    if start is not None and until is not None and until <= start:
        raise ConfigError(
            f"--until {_minute(until)} is not after --from {_minute(start)}; give an --until "
            "later than --from"
        )
    if start is not None and start >= last:
        raise ConfigError(f"--from {_minute(start)} is not inside the replay data; {inside}")
    begin = max(first, start) if start else first
    end = until or (begin + timedelta(hours=hours) if hours else last)
    if end <= begin:
        raise ConfigError(
            f"--until {_minute(end)} is before the replay's first cycle at {_minute(begin)} "
            f"(the data plus {WARMUP_CANDLES} candles of warm-up); {inside}"
        )
    return begin, min(end, last)
