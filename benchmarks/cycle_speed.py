"""`make bench`, part 1: what a cycle costs, each figure beside its target and a baseline
measured in the same run (issue 16).

The baseline is a bare SDK run of a scripted 7-turn Planner -> Trader -> Judge cycle that does
no work (tools return at once, no database, tracing on without processors), timed before and
after the replays. Printed, offline provider:
- speed: the marginal replay rate (a 7-day replay minus a 1-day one, so boot cancels out)
  against the baseline, target >= 1.5x; time per cycle split into model, tools, database and
  SDK + orchestration (from the bundled 30 days);
- boot: a fresh process's time to its first cycle against the SDK's own import, target <= +0.5 s;
- disk: bytes per cycle of the bundled 30-day replay at the default settings, target <= 5 KB;
- flat for a year: a replay of the whole BTC 1h 2019 file and of BTC 5m 2023 Q1 (shared data),
  each in its own process: per-cycle time of the last tenth / the first (<= 1.1), peak RSS growth
  after the first tenth (<= 10%), SQL statements per cycle in the first and last tenth.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
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
from sqlalchemy import Engine, event
from sqlmodel import select

from autotrader.agents.wire import FinalText, ToolCall, output_items
from autotrader.config import load_settings
from autotrader.core.boot import RunOptions, run_agent
from autotrader.core.orchestrator import Orchestrator
from autotrader.db import Database
from autotrader.db.models import TraceRecord
from autotrader.db.span_store import load_spans
from autotrader.sweep.plan import data_dir

BARE_RUNS = 1000
YEAR_FILES = (  # (file in the shared data folder, timeframe)
    ("binance_BTCUSDT_1h_2019-01-01_2019-12-31.csv.gz", "1h"),
    ("binance_BTCUSDT_5m_2023-01-01_2023-03-31.csv.gz", "5m"),
)
REPO = Path(__file__).resolve().parent.parent


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


@dataclass(frozen=True)
class Timed:
    wall: float  # seconds
    cpu: float  # this process's CPU seconds: steadier than the wall clock on a shared machine


def timed(work: Any) -> Timed:
    wall, cpu = time.perf_counter(), time.process_time()
    work()
    return Timed(time.perf_counter() - wall, time.process_time() - cpu)


async def bare_cycles_per_second() -> tuple[Timed, int]:
    """(cycles/s on the wall clock and in CPU time, model turns per cycle)."""
    planner = bare_graph()
    set_trace_processors([])
    result = await Runner.run(planner, "cycle")
    turns = len(result.raw_responses)
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(BARE_RUNS):
        await Runner.run(planner, "cycle")
    rates = Timed(BARE_RUNS / (time.perf_counter() - wall), BARE_RUNS / (time.process_time() - cpu))
    return rates, turns


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


def run_replay(db_path: Path, hours: float | None, **settings: Any) -> Timed:
    config = load_settings(env_file=None, db_path=db_path, log_level="WARNING", **settings)
    options = RunOptions(hours=hours)
    return timed(lambda: asyncio.run(run_agent(config, options, Console(file=io.StringIO()))))


def cycle_count(db_path: Path) -> int:
    with sqlite3.connect(db_path) as raw:
        return int(raw.execute("SELECT count(*) FROM cycles").fetchone()[0])


def stored_spans(db_path: Path) -> list[tuple[str, str, str | None, str | None]]:
    """(trace_id, kind, started_at, ended_at) of every stored span, decoded as readers do."""
    db = Database.open(db_path)
    found = []
    with db.session() as session:
        for trace in session.exec(select(TraceRecord)).all():
            for span in load_spans(session, trace, limit=10_000):
                found.append((trace.trace_id, span.kind, span.started_at, span.ended_at))
    db.close()
    return found


def disk_bytes(db_path: Path) -> int:
    """The database file and its WAL, as they stand after the run closed it."""
    return sum(p.stat().st_size for p in (db_path, Path(f"{db_path}-wal")) if p.exists())


# --- boot, each in a fresh process ---


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run_child(argv: list[str]) -> Timed:
    """Wall and CPU seconds of a fresh process running `argv` to its end."""
    wall, cpu = time.perf_counter(), _children_cpu()
    env = {"PATH": "/usr/bin:/bin", "LOG_LEVEL": "WARNING"}
    subprocess.run(argv, check=True, cwd=REPO, stdout=subprocess.DEVNULL, env=env)
    return Timed(time.perf_counter() - wall, _children_cpu() - cpu)


def import_seconds() -> Timed:
    return _run_child([sys.executable, "-c", "import agents"])


def bench_child(args: list[str], **env: str) -> Any:
    """Run this module in a fresh process with `args`; the JSON its last line prints."""
    child = subprocess.run(
        [sys.executable, "-m", "benchmarks.cycle_speed", *args],
        check=True,
        cwd=REPO,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", **env},
    )
    return json.loads(child.stdout.strip().splitlines()[-1])


def boot_seconds(db_path: Path) -> Timed:
    """A fresh process from its start to the end of its first cycle (`runner.py`'s path)."""
    found = bench_child(["--boot-child", str(db_path)], BENCH_SPAWNED=repr(time.time()))
    return Timed(found["wall"], found["cpu"])


def boot_child(db_path: Path) -> None:
    """Run the agent as `runner.py` does; print the time to the end of the first cycle, exit."""
    cycle = Orchestrator.cycle

    async def first(self: Orchestrator, candle: datetime | None = None) -> Any:
        await cycle(self, candle)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        wall = time.time() - float(os.environ["BENCH_SPAWNED"])
        print(json.dumps({"wall": wall, "cpu": usage.ru_utime + usage.ru_stime}), flush=True)
        os._exit(0)  # what comes after the first cycle is not boot

    Orchestrator.cycle = first  # type: ignore[method-assign]
    from autotrader.cli import main as cli_main

    cli_main(["--hours", "1", "--db", str(db_path)])


# --- flat for a year: a whole file replayed in its own process ---


def rss_peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def year_child(replay: Path, timeframe: str, db_path: Path) -> None:
    """Replay the whole file; print per-cycle end times, peak RSS and statement counts as JSON."""
    statements = [0]

    @event.listens_for(Engine, "connect")
    def count_statements(dbapi_connection: Any, _record: Any) -> None:
        def counted(_sql: str) -> None:
            statements[0] += 1

        dbapi_connection.set_trace_callback(counted)

    samples: list[tuple[float, float, float, int]] = []  # wall, CPU, peak RSS, statements
    cycle = Orchestrator.cycle

    async def sampled(self: Orchestrator, candle: datetime | None = None) -> Any:
        row = await cycle(self, candle)
        samples.append((time.perf_counter(), time.process_time(), rss_peak_mb(), statements[0]))
        return row

    Orchestrator.cycle = sampled  # type: ignore[method-assign]
    run_replay(db_path, None, replay_path=replay, timeframe=timeframe)
    with sqlite3.connect(db_path) as raw:
        traces = raw.execute("SELECT count(*) FROM traces").fetchone()[0]
    print(json.dumps({"samples": samples, "traces": traces, "bytes": disk_bytes(db_path)}))


@dataclass(frozen=True)
class Flatness:
    label: str
    cycles: int
    seconds: float
    time_ratio: float  # per-cycle time, last tenth / first tenth
    cpu_ratio: float  # the same in CPU time
    rss_growth: float  # peak RSS at the end / at the end of the first tenth, minus 1
    first_queries: float  # statements per cycle in the first tenth
    last_queries: float
    traces: int
    kb_per_cycle: float


def flatness(replay: Path, timeframe: str, folder: Path) -> Flatness:
    db_path = folder / f"year-{timeframe}.db"
    found = bench_child(["--year-child", str(replay), timeframe], BENCH_DB=str(db_path))
    samples = found["samples"]
    count = len(samples)
    tenth = max(2, count // 10)
    first, last = samples[:tenth], samples[-tenth:]

    def per_cycle(part: list[list[float]], column: int) -> float:
        return (part[-1][column] - part[0][column]) / (len(part) - 1)

    return Flatness(
        label=f"{replay.name} ({timeframe})",
        cycles=count,
        seconds=samples[-1][0] - samples[0][0],
        time_ratio=per_cycle(last, 0) / per_cycle(first, 0),
        cpu_ratio=per_cycle(last, 1) / per_cycle(first, 1),
        rss_growth=samples[-1][2] / first[-1][2] - 1,
        first_queries=per_cycle(first, 3),
        last_queries=per_cycle(last, 3),
        traces=found["traces"],
        kb_per_cycle=found["bytes"] / count / 1000,
    )


# --- the bench ---


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cycle_speed")
    parser.add_argument("--year-child", nargs=2, metavar=("FILE", "TIMEFRAME"), help="internal")
    parser.add_argument("--boot-child", metavar="DB", help="internal")
    parser.add_argument("--no-year", action="store_true", help="skip the year-long replays")
    args = parser.parse_args()
    if args.boot_child:
        boot_child(Path(args.boot_child))
        return
    if args.year_child:
        year_child(Path(args.year_child[0]), args.year_child[1], Path(os.environ["BENCH_DB"]))
        return
    console = Console()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        bare_before, bare_turns = asyncio.run(bare_cycles_per_second())
        imports, boots = [], []
        for n in range(3):  # side by side, so a change of load hits both
            imports.append(import_seconds())
            boots.append(boot_seconds(folder / f"boot{n}.db"))
        run_replay(folder / "warm.db", hours=1)  # imports and caches warm for what follows
        day_db, week_db, month_db = folder / "day.db", folder / "week.db", folder / "month.db"
        day, week = run_replay(day_db, hours=24), run_replay(week_db, hours=7 * 24)
        timer = DatabaseTimer()
        month_seconds = run_replay(month_db, hours=None).wall
        month_bytes = disk_bytes(month_db)
        with sqlite3.connect(month_db) as raw:
            first_wall, last_wall, turns = raw.execute(
                "SELECT min(wall_ts), max(wall_ts), avg(model_calls) FROM cycles"
            ).fetchone()
        spans = stored_spans(month_db)
        count, day_count, week_count = (cycle_count(p) for p in (month_db, day_db, week_db))
        bare_after, _ = asyncio.run(bare_cycles_per_second())
        years = []
        if not args.no_year:
            shared = data_dir(None)
            years = [flatness(shared / name, timeframe, folder) for name, timeframe in YEAR_FILES]

    bare_rate = (bare_before.wall + bare_after.wall) / 2
    bare_cpu_rate = (bare_before.cpu + bare_after.cpu) / 2
    marginal_rate = (week_count - day_count) / (week.wall - day.wall)
    marginal_cpu_rate = (week_count - day_count) / (week.cpu - day.cpu)
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
    speedup, cpu_speedup = marginal_rate / bare_rate, marginal_cpu_rate / bare_cpu_rate
    import_s, boot_s = min(t.wall for t in imports), min(t.wall for t in boots)
    import_cpu, boot_cpu = min(t.cpu for t in imports), min(t.cpu for t in boots)
    kb_per_cycle = month_bytes / count / 1000

    table = Table(title="make bench: cycle cost (offline provider, bundled real candles)")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_column("target / baseline")
    table.add_row(
        f"bare SDK baseline: {bare_turns} scripted turns, no work",
        f"{bare_rate:.1f} cycles/s",
        f"before {bare_before.wall:.1f}, after {bare_after.wall:.1f}",
    )
    table.add_row(
        "  the same in CPU time", f"{bare_cpu_rate:.1f} cycles/s", "steadier under others' load"
    )
    table.add_row(
        "marginal replay speed (7-day replay minus 1-day)",
        f"{marginal_rate:.1f} cycles/s",
        f"{speedup:.2f}x the baseline (target >= 1.5x: {verdict(speedup >= 1.5)})",
    )
    table.add_row(
        "  the same in CPU time",
        f"{marginal_cpu_rate:.1f} cycles/s",
        f"{cpu_speedup:.2f}x the baseline (target >= 1.5x: {verdict(cpu_speedup >= 1.5)})",
    )
    table.add_row(
        "cycles/s including boot, 30 simulated days",
        f"{count / month_seconds:.1f}",
        f"{count} cycles",
    )
    table.add_row("model round trips per cycle (mean)", f"{turns:.2f}", "")
    table.add_row("time per cycle (wall, cycle to cycle)", f"{per_cycle_ms:.2f} ms", "")
    table.add_row("  model (generation spans)", f"{model_ms:.2f} ms", "")
    table.add_row("  tools (function spans, overlaps counted once)", f"{tools_ms:.2f} ms", "")
    table.add_row("  database (reads, writes, sessions; wall)", f"{db_ms:.2f} ms", "")
    rest = per_cycle_ms - model_ms - tools_ms - db_ms
    table.add_row("  SDK + orchestration + console (the rest)", f"{rest:.2f} ms", "")
    table.add_row(
        "boot: a fresh process to the end of its first cycle (best of 3)",
        f"{boot_s:.2f} s",
        f"SDK import {import_s:.2f} s; target <= +0.5 s: {verdict(boot_s <= import_s + 0.5)}",
    )
    table.add_row(
        "  the same in CPU time",
        f"{boot_cpu:.2f} s",
        f"SDK import {import_cpu:.2f} s; target <= +0.5 s: {verdict(boot_cpu <= import_cpu + 0.5)}",
    )
    table.add_row(
        "disk per cycle, 30-day replay, default settings",
        f"{kb_per_cycle:.2f} KB",
        f"target <= 5 KB: {verdict(kb_per_cycle <= 5)} ({month_bytes / 1e6:.1f} MB)",
    )
    for year in years:
        table.add_row(f"{year.label}: cycles, seconds", f"{year.cycles}", f"{year.seconds:.0f} s")
        table.add_row(
            "  per-cycle time, last tenth / first (wall; CPU)",
            f"{year.time_ratio:.2f}; {year.cpu_ratio:.2f}",
            f"target <= 1.1: {verdict(year.time_ratio <= 1.1)}; {verdict(year.cpu_ratio <= 1.1)}",
        )
        table.add_row(
            "  peak RSS growth after the first tenth",
            f"{year.rss_growth:+.1%}",
            f"target <= 10%: {verdict(year.rss_growth <= 0.10)}",
        )
        flat = abs(year.last_queries - year.first_queries) <= 0.05 * year.first_queries
        table.add_row(
            "  SQL statements per cycle, first tenth -> last",
            f"{year.first_queries:.1f} -> {year.last_queries:.1f}",
            f"target constant: {verdict(flat)}",
        )
        table.add_row(
            "  traces kept (30-day retention), disk per cycle",
            f"{year.traces}",
            f"{year.kb_per_cycle:.2f} KB",
        )
    console.print(table)
    load = os.getloadavg()
    console.print(
        f"run at {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; load average {load[0]:.1f} {load[1]:.1f}"
        f" {load[2]:.1f} on {os.cpu_count()} cores"
    )


if __name__ == "__main__":
    main()
