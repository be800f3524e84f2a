"""`make bench`, part 1: how fast the loop runs on the bundled data, against a bare SDK baseline.

Prints, for the default replay (the bundled 30 days, offline provider):
- cycles/s over the 30 simulated days, and seconds for 24 simulated hours;
- time per cycle split into model, tools, database and SDK + orchestration;
- whether per-cycle time stays flat (mean on the last simulated day / the first day);
- peak memory (resident set size);
- the same process's cycles/s for a bare SDK run of a scripted 7-turn Planner -> Trader -> Judge
  cycle that does no work (tools return at once, no database, tracing on without processors).
"""

from __future__ import annotations

import asyncio
import io
import json
import resource
import sqlite3
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agents import (
    Agent,
    ModelResponse,
    RunContextWrapper,
    Runner,
    Usage,
    function_tool,
    handoff,
    set_trace_processors,
)
from agents.models.interface import Model
from agents.tracing import generation_span
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

from autotrader.agents.wire import FinalText, ToolCall, output_items
from autotrader.config import load_settings
from autotrader.core.boot import RunOptions, run_agent
from autotrader.db import Database

BARE_RUNS = 1000


# --- the bare SDK baseline: 7 scripted turns, no work ---


class Brief(BaseModel):
    note: str


class Answer(BaseModel):
    decision: str


@function_tool
async def noop_a(x: int) -> str:
    """No work."""
    return "{}"


@function_tool
async def noop_b(x: int) -> str:
    """No work."""
    return "{}"


class Scripted(Model):
    """Plays its turns in order; which turn is next comes from its own earlier calls in the
    input (call ids `<name>-<turn>-<n>`), so it keeps no state between runs."""

    def __init__(self, name: str, turns: list[list[Any]]) -> None:
        self.name, self.turns = name, turns

    async def get_response(
        self, system_instructions: Any, input: Any, *args: Any, **kwargs: Any
    ) -> ModelResponse:
        with generation_span(model=f"scripted-{self.name}"):
            items = input if isinstance(input, list) else []
            done = {
                item["call_id"].split("-")[1].split("_")[0]
                for item in items
                if isinstance(item, dict)
                and item.get("type") == "function_call"
                and str(item.get("call_id", "")).startswith(f"{self.name}-")
            }
            turn = len(done)
            output = output_items(self.turns[turn], f"{self.name}-{turn}")
            return ModelResponse(output=output, usage=Usage(requests=1), response_id=None)

    def stream_response(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("not streamed")


def bare_graph() -> Agent[Any]:
    judge = Agent(
        name="Judge",
        model=Scripted(
            "judge",
            [
                [ToolCall("noop_a", {"x": 1})],
                [ToolCall("noop_b", {"x": 1})],
                [FinalText(json.dumps({"decision": "APPROVE"}))],
            ],
        ),
        tools=[noop_a, noop_b],
        output_type=Answer,
    )
    trader = Agent(
        name="Trader",
        model=Scripted(
            "trader",
            [
                [ToolCall("noop_a", {"x": 1}), ToolCall("noop_b", {"x": 2})],
                [ToolCall("noop_a", {"x": 3})],
                [ToolCall("transfer_to_judge", {})],
            ],
        ),
        tools=[noop_a, noop_b],
        handoffs=[judge],
    )

    async def noted(_ctx: RunContextWrapper[Any], _brief: Brief) -> None:
        return None

    return Agent(
        name="Planner",
        model=Scripted("planner", [[ToolCall("transfer_to_trader", {"note": "go"})]]),
        handoffs=[handoff(trader, input_type=Brief, on_handoff=noted)],
    )


async def bare_cycles_per_second() -> tuple[float, int]:
    planner = bare_graph()
    set_trace_processors([])
    result = await Runner.run(planner, "cycle")
    turns = len(result.raw_responses)
    started = time.perf_counter()
    for _ in range(BARE_RUNS):
        await Runner.run(planner, "cycle")
    return BARE_RUNS / (time.perf_counter() - started), turns


# --- the real loop ---


class DatabaseTimer:
    """Wall time inside the database API (plain reads, batched writes, ORM sessions): every
    statement and commit the loop makes goes through one of these three."""

    def __init__(self) -> None:
        self.seconds = 0.0
        read, write, session = Database.read, Database.write, Database.session

        def timed_read(db: Database, *args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return read(db, *args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - started

        def timed_write(db: Database, *args: Any, **kwargs: Any) -> None:
            started = time.perf_counter()
            try:
                write(db, *args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - started

        @contextmanager
        def timed_session(db: Database) -> Iterator[Any]:
            started = time.perf_counter()
            try:
                with session(db) as opened:
                    yield opened
            finally:
                self.seconds += time.perf_counter() - started

        for name, timed in (("read", timed_read), ("write", timed_write)):
            setattr(Database, name, timed)
        Database.session = timed_session  # type: ignore[method-assign,assignment]


def _seconds(start: str | None, end: str | None) -> float:
    if not start or not end:
        return 0.0
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def union_ms(intervals: list[tuple[str, str]]) -> float:
    total, reach = 0.0, None
    for start, end in sorted(intervals):
        if reach is None or start > reach:
            total += _seconds(start, end)
            reach = end
        elif end > reach:
            total += _seconds(reach, end)
            reach = end
    return total * 1000


def run_replay(db_path: Path, hours: float | None) -> float:
    settings = load_settings(env_file=None, db_path=db_path, log_level="WARNING")
    started = time.perf_counter()
    asyncio.run(run_agent(settings, RunOptions(hours=hours), Console(file=io.StringIO())))
    return time.perf_counter() - started


def main() -> None:
    console = Console()
    with tempfile.TemporaryDirectory() as tmp:
        day_db, month_db = Path(tmp) / "day.db", Path(tmp) / "month.db"
        day_seconds = run_replay(day_db, hours=24)
        timer = DatabaseTimer()
        month_seconds = run_replay(month_db, hours=None)
        with sqlite3.connect(month_db) as raw:
            cycles = raw.execute("SELECT cycle_ts, wall_ts FROM cycles ORDER BY id").fetchall()
            first_wall, last_wall, turns = raw.execute(
                "SELECT min(wall_ts), max(wall_ts), avg(model_calls) FROM cycles"
            ).fetchone()
            spans = raw.execute("SELECT trace_id, kind, started_at, ended_at FROM spans").fetchall()
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    bare_rate, bare_turns = asyncio.run(bare_cycles_per_second())

    count = len(cycles)
    loop_seconds = _seconds(first_wall, last_wall)
    per_cycle_ms = loop_seconds * 1000 / (count - 1)  # wall time from one cycle to the next
    by_kind: dict[str, float] = defaultdict(float)
    tool_intervals: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for trace_id, kind, start, end in spans:
        by_kind[kind] += _seconds(start, end) * 1000
        if kind == "function" and start and end:
            tool_intervals[trace_id].append((start, end))
    # Parallel tool calls overlap: count the time any tool was running, not the sum.
    tool_ms = sum(union_ms(intervals) for intervals in tool_intervals.values())
    model_ms, tools_ms = by_kind["generation"] / count, tool_ms / count
    db_ms = timer.seconds * 1000 / count
    per_day: dict[str, list[str]] = defaultdict(list)
    for ts, wall in cycles:
        per_day[ts[:10]].append(wall)
    days = sorted(per_day)

    def day_ms(day: str) -> float:
        walls = per_day[day]
        return _seconds(walls[0], walls[-1]) * 1000 / max(1, len(walls) - 1)

    ratio = day_ms(days[-1]) / day_ms(days[0])
    loop_rate = (count - 1) / loop_seconds

    table = Table(title="make bench: cycle speed (offline provider, bundled real candles)")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("simulated days replayed", f"{len(days)} ({days[0]} -> {days[-1]})")
    table.add_row("cycles", str(count))
    table.add_row("cycles/s over the 30 simulated days (the loop, wall)", f"{loop_rate:.1f}")
    table.add_row("cycles/s including boot (wall)", f"{count / month_seconds:.1f}")
    table.add_row("seconds for 24 simulated hours (wall, incl. boot)", f"{day_seconds:.1f}")
    table.add_row("model round trips per cycle (mean)", f"{turns:.2f}")
    table.add_row("time per cycle (wall, cycle to cycle)", f"{per_cycle_ms:.2f} ms")
    table.add_row("  model (generation spans)", f"{model_ms:.2f} ms")
    table.add_row("  tools (function spans, overlaps counted once)", f"{tools_ms:.2f} ms")
    table.add_row("  database (reads, writes, sessions; wall)", f"{db_ms:.2f} ms")
    rest = per_cycle_ms - model_ms - tools_ms - db_ms
    table.add_row("  SDK + orchestration + console (the rest)", f"{rest:.2f} ms")
    table.add_row("per-cycle time, last simulated day / first", f"{ratio:.2f}  (target <= 1.1)")
    table.add_row("peak memory (RSS)", f"{peak_mb:.0f} MB")
    table.add_row(
        f"bare SDK baseline: {bare_turns} scripted turns, no work", f"{bare_rate:.1f} cycles/s"
    )
    verdict = "at or above" if loop_rate >= bare_rate else "BELOW"
    table.add_row("agent loop against the baseline", f"{loop_rate / bare_rate:.2f}x ({verdict})")
    console.print(table)
    console.print(f"run at {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")


if __name__ == "__main__":
    main()
