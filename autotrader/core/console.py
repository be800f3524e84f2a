"""What the user sees: a start banner, one line per cycle, a progress bar over replayed data
with cycles/s, a summary table, and a stored trace as a tree. LOG_LEVEL picks the detail: DEBUG
and INFO show every cycle, WARNING only problems, ERROR only errors. Nothing here ever prints a
key.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from time import perf_counter
from typing import Any

from rich.console import Console
from rich.panel import Panel
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.tree import Tree

from autotrader.db import Database
from autotrader.db.models import Cycle, SpanRecord
from autotrader.db.traces import load_trace
from autotrader.research.summary import RunSummary

LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40}
PROGRESS_EVERY_SECS = 0.25


def _money(value: Decimal | None) -> str:
    return "-" if value is None else f"{value:,.2f}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:+.2%}"


def _wakeup(seconds: int) -> str:
    return f"{seconds // 60}m" if seconds % 60 == 0 else f"{seconds}s"


class ConsoleView:
    def __init__(self, console: Console, log_level: str = "INFO") -> None:
        self.console = console
        self.level = LEVELS.get(log_level, 20)
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self._span: tuple[datetime, datetime] | None = None
        self._started = perf_counter()
        self._cycles = 0
        self._last_update = 0.0

    def banner(self, fields: dict[str, str]) -> None:
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold cyan")
        grid.add_column()
        for key, value in fields.items():
            grid.add_row(key, value)
        self.console.print(Panel(grid, title="autotrader", expand=False))

    def note(self, message: str, *, level: str = "INFO") -> None:
        if LEVELS[level] >= self.level:
            style = {"WARNING": "yellow", "ERROR": "bold red"}.get(level, "")
            self._print(f"[{style}]{message}[/]" if style else message)

    def cycle(self, row: Cycle) -> None:
        self._cycles += 1
        self._advance(row.cycle_ts)
        if row.status == "ERROR":
            self.note(
                f"{row.cycle_ts:%Y-%m-%d %H:%M}  cycle skipped: {row.error}; "
                f"retry in {_wakeup(row.wakeup_secs)}",
                level="WARNING",
            )
            return
        if self.level > LEVELS["INFO"]:
            return
        action = row.action or "-"
        if action != "HOLD" and row.qty is not None:
            action += f" {row.qty}"
        fill = f"fill {_money(row.fill_price)}" if row.executed else "no fill"
        flags = " [yellow]guardrail[/]" if row.guardrail else ""
        flags += " [yellow]fallback[/]" if row.fallbacks else ""
        self._print(
            f"{row.cycle_ts:%Y-%m-%d %H:%M}  {row.plan_mode or '-':7} {row.arm or '-':24} "
            f"{'explore' if row.explore else 'exploit':7}  {action:15} {row.verdict or '-':7} "
            f"{fill:16} equity {_money(row.equity):>10}  next {_wakeup(row.wakeup_secs)}{flags}"
        )

    @contextmanager
    def replay_progress(self, start: datetime, end: datetime) -> Iterator[None]:
        progress = Progress(
            TextColumn("[bold]replay[/]"),
            BarColumn(),
            TextColumn("{task.percentage:>5.1f}%"),
            TextColumn("{task.fields[now]}"),
            TextColumn("{task.fields[rate]:>6.1f} cycles/s"),
            TimeElapsedColumn(),
            console=self.console,
            transient=False,
        )
        self._progress, self._span = progress, (start, end)
        self._task = progress.add_task(
            "replay", total=max(1.0, (end - start).total_seconds()), now="", rate=0.0
        )
        self._started, self._cycles = perf_counter(), 0
        with progress:
            yield
            self._last_update = 0.0
            self._advance(end)  # the final state, whatever the throttle says
        self._progress = None

    def _advance(self, now: datetime) -> None:
        if self._progress is None or self._task is None or self._span is None:
            return
        wall = perf_counter()
        if wall - self._last_update < PROGRESS_EVERY_SECS:  # a redraw costs more than a cycle
            return
        self._last_update = wall
        rate = self._cycles / max(1e-9, wall - self._started)
        done = (now - self._span[0]).total_seconds()
        self._progress.update(self._task, completed=done, now=f"{now:%Y-%m-%d %H:%M}", rate=rate)

    def _print(self, message: str) -> None:
        console = self._progress.console if self._progress else self.console
        console.print(message, highlight=False, soft_wrap=True)  # one line per cycle, unwrapped

    def summary(self, summary: RunSummary, extra: dict[str, Any] | None = None) -> None:
        table = Table(title=f"run {summary.run_id}", show_header=False)
        table.add_column(style="bold")
        table.add_column(justify="right")
        rows = [
            ("cycles", f"{summary.cycles} ({summary.error_cycles} skipped on errors)"),
            ("trades", str(summary.trades)),
            ("fees paid (USDT)", _money(summary.fees)),
            ("final equity (USDT)", _money(summary.final_equity)),
            ("return", _pct(summary.total_return)),
            ("buy & hold", _pct(summary.buy_and_hold)),
            ("max drawdown", f"{summary.max_drawdown:.2%}"),
            ("schema-valid outputs", f"{summary.schema_valid}/{summary.decisions}"),
            ("guardrail trips", str(summary.guardrail_trips)),
            ("cycles with a fallback", str(summary.fallback_cycles)),
            ("model calls per cycle", f"{summary.model_calls_per_cycle:.2f}"),
            ("mean cycle time", f"{summary.mean_cycle_ms:.1f} ms"),
        ]
        for key, value in (extra or {}).items():
            rows.append((key, str(value)))
        for key, value in rows:
            table.add_row(key, value)
        self.console.print(table)


def _label(span: SpanRecord) -> str:
    data = json.loads(span.data_json)
    label = f"[bold]{span.kind}[/] {span.name}"
    inner = data.get("data") or {}
    if span.kind == "custom" and "latency_ms" in inner:  # one model call, as measured
        label += (
            f"  {inner.get('model')} attempt {inner.get('attempt')}  "
            f"{inner.get('latency_ms', 0):.0f} ms  {inner.get('chars')} chars  "
            f"tokens in {inner.get('input_tokens')} out {inner.get('output_tokens')}"
        )
    elif span.kind == "generation":
        output = json.dumps(data.get("output"), default=str)
        label += f"  usage={data.get('usage')}  out={output[:80]}"
    elif span.kind == "function":
        label += f"  in={str(data.get('input'))[:80]}  out={str(data.get('output'))[:80]}"
    elif span.kind == "guardrail":
        label += f"  triggered={data.get('triggered')}"
    if span.error_json:
        label += f"  [red]error={span.error_json[:120]}[/]"
    return label


def print_trace(db: Database, trace_id: str, console: Console) -> bool:
    """Render one stored trace as a tree of its spans; False if there is no such trace."""
    trace, spans = load_trace(db, trace_id)
    if trace is None:
        return False
    root = Tree(
        f"[bold]{trace.workflow_name}[/] {trace.trace_id}  group={trace.group_id}  "
        f"{trace.metadata_json}"
    )
    nodes: dict[str | None, Tree] = {None: root}
    for span in spans:  # parents start before their children
        parent = nodes.get(span.parent_id, root)
        nodes[span.span_id] = parent.add(_label(span))
    console.print(root)
    return True
