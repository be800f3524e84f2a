"""Time as a port: the wall clock sleeps for real, the simulated clock jumps.

Replay and live run the same orchestrator; only the clock (and the feed it drives) differ.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...

    async def sleep(self, seconds: float, interrupt: asyncio.Event | None = None) -> None:
        """Let `seconds` pass; a set `interrupt` ends the wait early (a stop request)."""
        ...


class WallClock:
    """Real UTC time; sleeping waits, unless interrupted (for a clean shutdown)."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float, interrupt: asyncio.Event | None = None) -> None:
        if interrupt is None:
            await asyncio.sleep(seconds)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(interrupt.wait(), timeout=seconds)


class SimulatedClock:
    """Replay time: `sleep` moves now forward at once, so a day of cycles runs in seconds."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("the simulated clock needs an aware UTC start time")
        self._now = start.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    async def sleep(self, seconds: float, interrupt: asyncio.Event | None = None) -> None:
        self._now += timedelta(seconds=seconds)  # no waiting, so nothing to interrupt

    def advance_to(self, moment: datetime) -> None:
        if moment < self._now:
            raise ValueError(f"the simulated clock cannot go back from {self._now} to {moment}")
        self._now = moment


def to_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)
