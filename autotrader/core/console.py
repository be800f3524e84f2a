"""What the user sees: a start banner, a header row and one line per cycle (fitting 80 columns),
a progress bar over replayed data with cycles/s, a summary table, and a stored trace as a tree.

A cycle line reads: time, short trace id (give it to `runner.py trace` or `decisions`), plan
mode, arm (`*` when exploring), what happened, the base asset held, PnL and buy & hold since
the run's first snapshot, the next wake-up; a fallback, guardrail or error adds an indented
line with its reason.
LOG_LEVEL picks the detail: DEBUG adds each agent's decision and the tool calls, INFO shows
every cycle, WARNING only problems, ERROR only errors. LOG_FILE gets the same lines as plain
text. Text that did not come from our code is printed as text, never as markup. Nothing here
ever prints a key.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from time import perf_counter
from typing import Any, TextIO

from rich.console import Console, RenderableType
from rich.panel import Panel
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from autotrader.db import Database
from autotrader.db.models import Cycle
from autotrader.research import formats, queries
from autotrader.research.arms import arm_short
from autotrader.research.metrics import Mark
from autotrader.research.summary import RunSummary
from autotrader.research.views import cycle_outcome

LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40}
PROGRESS_EVERY_SECS = 0.25
WIDTH = 80
LINE = "{time:5} {trace:8} {mode:7} {arm:10} {outcome:11} {pos:>8} {pnl:>7} {hold:>7} {next:>8}"
INDENT = " " * 6


def clip(text: str, width: int) -> str:
    """`text` in at most `width` characters, cut at a word boundary with an ellipsis."""
    if len(text) <= width:
        return text
    cut = text[: width - 1]
    space = cut.rfind(" ")
    return (cut[:space] if space > width // 2 else cut).rstrip(" ,;:") + "…"


class ConsoleView:
    def __init__(
        self,
        console: Console,
        log_level: str = "INFO",
        *,
        db: Database | None = None,
        base_asset: str = "BTC",
        log_file: TextIO | None = None,
    ) -> None:
        self.console = console
        self._base = base_asset
        self._header = LINE.format(
            time="UTC", trace="trace", mode="plan", arm="arm", outcome="decision",
            pos=base_asset[:8], pnl="PnL", hold="B&H", next="wake-up",
        )  # fmt: skip
        self.level = LEVELS.get(log_level, 20)
        self._db = db
        self._file = (
            None
            if log_file is None
            else Console(file=log_file, width=WIDTH, color_system=None, soft_wrap=True)
        )
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self._span: tuple[datetime, datetime] | None = None
        self._started = perf_counter()
        self._cycles = 0
        self._last_update = 0.0
        self._day: date | None = None
        self._resume_at: datetime | None = None  # the next cycle's time after the last one
        self._first: dict[str, Mark | None] = {}

    def banner(self, fields: dict[str, str]) -> None:
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold cyan")
        grid.add_column()
        for key, value in fields.items():
            grid.add_row(key, Text(value))
        self._emit(Panel(grid, title="autotrader", expand=False), terminal=self.console)

    def note(self, message: str, *, level: str = "INFO") -> None:
        if LEVELS[level] >= self.level:
            style = {"WARNING": "yellow", "ERROR": "bold red"}.get(level, "")
            self._print(Text(message, style=style))

    def cycle(self, row: Cycle) -> None:
        self._cycles += 1
        self._resume_at = row.cycle_ts + timedelta(seconds=row.wakeup_secs)
        self._advance(row.cycle_ts)
        if row.status == "ERROR":
            self.note(
                f"{row.cycle_ts:%Y-%m-%d %H:%M} {queries.short_trace(row.trace_id)} cycle skipped: "
                f"{row.error}; retry in {formats.wakeup(row.wakeup_secs)}",
                level="WARNING",
            )
            return
        if self.level > LEVELS["INFO"]:
            return
        if self._day != row.cycle_ts.date():
            self._day = row.cycle_ts.date()
            self._print(Text(f"── {row.cycle_ts:%a %Y-%m-%d} ", style="dim"))
            self._print(Text(self._header, style="bold"))
        position, pnl, hold = self._standing(row)
        line = LINE.format(
            time=f"{row.cycle_ts:%H:%M}",
            trace=queries.short_trace(row.trace_id),
            mode=(row.plan_mode or "-")[:7],
            arm=arm_short(row.arm) + ("*" if row.explore else ""),
            outcome=cycle_outcome(row),
            pos=position,
            pnl=pnl,
            hold=hold,
            next=f"next {formats.wakeup(row.wakeup_secs)}",
        )
        self._print(Text(line, style="green" if row.executed else ""))
        for reason in self._reasons(row):
            self._print(Text(clip(f"{INDENT}↳ {reason}", WIDTH), style="yellow"))
        if self.level <= LEVELS["DEBUG"]:
            for detail in self._details(row):
                self._print(Text(clip(f"{INDENT}{detail}", WIDTH), style="dim"))

    def _standing(self, row: Cycle) -> tuple[str, str, str]:
        """Position, return and buy & hold since the run's first snapshot ('-' without a db)."""
        if self._db is None:
            return "-", "-", "-"
        base = self._base
        if row.run_id not in self._first:
            self._first[row.run_id] = queries.first_mark(self._db, row.run_id, base)
        first, last = self._first[row.run_id], queries.last_mark(self._db, row.run_id, base)
        if first is None or last is None:
            return "-", "-", "-"
        position = "flat" if last.base == 0 else formats.qty(last.base)[:8]
        pnl = float(last.equity / first.equity - 1) if first.equity else None
        hold = float(last.price / first.price - 1) if first.price else None
        return position, formats.pct(pnl), formats.pct(hold)

    def _reasons(self, row: Cycle) -> list[str]:
        reasons = []
        if row.fallbacks and self._db is not None:
            for d in queries.decisions(self._db, row.trace_id):
                if d.fallback_reason:
                    reasons.append(f"fallback ({d.agent.lower()}): {d.fallback_reason}")
        elif row.fallbacks:
            reasons.append(f"{row.fallbacks} fallback(s) to the safe answer")
        if row.guardrail:
            reasons.append(f"guardrail: {row.guardrail}")
        if row.error:
            reasons.append(f"not executed: {row.error}")
        return reasons

    def _details(self, row: Cycle) -> list[str]:
        """DEBUG: each agent's decision and every tool call of the cycle, one line each."""
        if self._db is None:
            return []
        lines = []
        for d in queries.decisions(self._db, row.trace_id):
            payload = json.dumps(d.payload, separators=(", ", ": "), sort_keys=True)
            lines.append(f"{d.agent.lower()} ({d.model or '?'}): {payload}")
        try:
            view = queries.trace_view(self._db, row.trace_id)
        except queries.NotFound:
            return lines
        for node in view.nodes:
            if node.span.kind == "function":
                given, got = node.data.get("input"), node.data.get("output")
                lines.append(f"tool {node.span.name} {given} -> {str(got)[:60]}")
        return lines

    @contextmanager
    def replay_progress(self, start: datetime, end: datetime) -> Iterator[None]:
        progress = Progress(
            TextColumn("[bold]replay[/]"),
            BarColumn(bar_width=18),
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
        self._started, self._cycles, self._resume_at = perf_counter(), 0, None
        try:
            with progress:
                try:
                    yield
                finally:
                    # Where the run got to: the next cycle's time (a stopped run resumes there),
                    # which is the end once the replay is done. Never further than that.
                    self._last_update = 0.0
                    self._advance(min(end, self._resume_at or start))
        finally:
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

    def _print(self, message: Text) -> None:
        console = self._progress.console if self._progress else self.console
        self._emit(message, terminal=console)

    def _emit(self, renderable: RenderableType, *, terminal: Console) -> None:
        # One line each, never wrapped: cycle lines and reasons are built to fit 80 columns,
        # and a note stays whole on its line for whoever greps the log.
        terminal.print(renderable, highlight=False, soft_wrap=True)
        if self._file is not None:
            self._file.print(renderable, highlight=False)
            self._file.file.flush()

    def summary(self, summary: RunSummary, extra: dict[str, Any] | None = None) -> None:
        table = Table(title=f"run {summary.run_id}", show_header=False)
        table.add_column(style="bold")
        table.add_column(justify="right")
        rows = [
            ("cycles", f"{summary.cycles} ({summary.error_cycles} skipped on errors)"),
            ("trades", str(summary.trades)),
            ("fees paid (USDT)", formats.money(summary.fees)),
            ("final equity (USDT)", formats.money(summary.final_equity)),
            ("return", formats.pct(summary.total_return)),
            ("buy & hold", formats.pct(summary.buy_and_hold)),
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
            table.add_row(key, Text(value))
        self._emit(table, terminal=self.console)


def _label(node: queries.SpanNode) -> Text:
    span, data = node.span, node.data
    label = Text.assemble((span.kind, "bold"), " ", span.name)
    if node.duration_ms is not None:
        label.append(f"  {formats.millis(node.duration_ms)}", style="dim")
    inner = data.get("data") or {}
    if span.kind == "custom" and "latency_ms" in inner:  # one model call, as measured
        label.append(
            f"  {inner.get('model')} attempt {inner.get('attempt')}  "
            f"{inner.get('latency_ms', 0):.0f} ms  {inner.get('chars')} chars  "
            f"tokens in {inner.get('input_tokens')} out {inner.get('output_tokens')}"
        )
    elif span.kind == "generation":
        output = json.dumps(data.get("output"), default=str)
        label.append(f"  usage={data.get('usage')}  out={output[:80]}")
    elif span.kind == "function":
        label.append(f"  in={str(data.get('input'))[:80]}  out={str(data.get('output'))[:80]}")
    elif span.kind == "guardrail":
        label.append(f"  triggered={data.get('triggered')}")
    if span.error_json:
        label.append(f"  error={span.error_json[:120]}", style="red")
    return label


def print_trace(db: Database, trace_id: str, console: Console) -> None:
    """Render one stored trace (a full id or a unique prefix) as a tree of its spans."""
    view = queries.trace_view(db, queries.resolve_trace(db, trace_id))
    trace = view.trace
    root = Tree(
        Text.assemble(
            (trace.workflow_name, "bold"),
            f" {trace.trace_id}  group={trace.group_id}  {trace.metadata_json}",
        )
    )
    parents: list[Tree] = [root]
    for node in view.nodes:  # depth-first: a node's parent is the last one a level up
        del parents[node.depth + 1 :]
        parents.append(parents[node.depth].add(_label(node)))
    console.print(root)
