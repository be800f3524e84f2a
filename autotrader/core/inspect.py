"""The inspection commands' tables, read through the query layer and sized for 80 columns:
`runner.py runs`, `cycles`, `trades` and `decisions TRACE_ID`. Stored text (hypotheses, notes,
reasons) is printed as text, never as markup."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from rich import box
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from autotrader.db import Database
from autotrader.research import formats, queries
from autotrader.research.arms import arm_label, arm_short
from autotrader.research.views import cycle_outcome


def _table(*headings: str, right: tuple[str, ...] = ()) -> Table:
    table = Table(
        box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1), collapse_padding=True, show_edge=False
    )
    for heading in headings:
        table.add_column(heading, justify="right" if heading in right else "left")
    return table


def runs_table(db: Database) -> RenderableType:
    everything = queries.runs(db)
    if not everything:
        return Text(f"no run in {db.path} yet; start one with `python runner.py`")
    table = _table(
        "run", "state", "span (UTC)", "cycles", "fills", "return", "B&H",
        right=("cycles", "fills", "return", "B&H"),
    )  # fmt: skip
    now = datetime.now(UTC)
    for o in everything:
        r = o.run
        start, end = (r.sim_start, r.sim_end) if r.sim_start else (r.started_at, r.finished_at)
        table.add_row(
            Text.assemble(r.run_id, "\n", (f"{r.mode} {r.feed} {r.provider}", "dim")),
            queries.run_state(o, now),
            f"{start:%Y-%m-%d %H:%M}\n+{_duration(start, end or now)}",
            formats.count(o.cycles),
            formats.count(o.trades),
            formats.pct(o.total_return),
            formats.pct(o.buy_and_hold),
        )
    return table


def _duration(start: datetime, end: datetime) -> str:
    hours = (end - start).total_seconds() / 3600
    return f"{hours / 24:.1f} days" if hours >= 48 else f"{hours:.1f} h"


def cycles_table(
    db: Database, run_id: str | None, last: int, where: queries.CycleFilter
) -> RenderableType:
    run = queries.run_overview(db, run_id)
    page = queries.last_cycles(db, run.run.run_id, last, where)
    table = _table(
        "time (UTC)", "trace", "arm", "decision", "qty", "verdict", "equity",
        right=("qty", "equity"),
    )  # fmt: skip
    for d in page.items:
        c = d.cycle
        table.add_row(
            formats.when(c.cycle_ts),
            queries.short_trace(c.trace_id),
            arm_short(c.arm) + ("*" if c.explore else ""),
            cycle_outcome(c),
            formats.qty(c.qty) if c.action in ("BUY", "SELL") else "",
            Text(c.verdict or c.status, style="yellow" if c.fallbacks or c.guardrail else ""),
            formats.money(c.equity),
        )
    shown = len(page.items)
    note = Text(
        f"{run.run.run_id}: the last {shown} of {page.total} matching cycles ({run.cycles} in "
        "all); * exploring. Give a trace to `runner.py decisions` or `runner.py trace`.",
        style="dim",
    )
    return Group(table, note)


def trades_table(db: Database, run_id: str | None, last: int) -> RenderableType:
    run = queries.run_overview(db, run_id)
    fills = queries.trades(db, run.run.run_id)
    closing = {t.closed: t for t in queries.trips(fills) if t.closed is not None}
    table = _table(
        "time (UTC)", "side", "qty", "price", "fee", "trip PnL", "trace",
        right=("qty", "price", "fee", "trip PnL"),
    )  # fmt: skip
    for t in fills[-last:]:
        trip = closing.get(t.ts_utc) if t.side == "SELL" else None
        table.add_row(
            formats.when(t.ts_utc),
            t.side,
            formats.qty(t.qty),
            formats.money(t.price),
            formats.money(t.fee),
            "" if trip is None else formats.money(trip.pnl, signed=True),
            queries.short_trace(t.trace_id or ""),
        )
    won = sum(trip.pnl > 0 for trip in closing.values())
    note = Text(
        f"run {run.run.run_id}: the last {min(last, len(fills))} of {len(fills)} fills; "
        f"{won} of {len(closing)} round trips won (PnL after fees, on average cost).",
        style="dim",
    )
    return Group(table, note)


def _fields(agent: str, payload: dict[str, object]) -> list[tuple[str, str]]:
    """An agent's output as (field, text) rows a person reads."""
    if agent == "PLANNER":
        listed = payload.get("strategies")
        strategies = listed if isinstance(listed, list) else []
        shown = [
            f"{s.get('policy_id')} {json.dumps(s.get('params'), separators=(',', ':'))}"
            for s in strategies
            if isinstance(s, dict)
        ]
        return [
            ("mode", str(payload.get("mode"))),
            ("strategies", "; ".join(shown) or "-"),
            ("explore ratio", formats.share(_float(payload.get("explore_ratio")))),
            ("next wake-up", formats.wakeup(_int(payload.get("next_wakeup_secs")))),
        ]
    if agent == "TRADER":
        return [
            ("action", f"{payload.get('action')} {payload.get('qty')}"),
            ("strategy", str(payload.get("policy_id"))),
            ("hypothesis", str(payload.get("hypothesis"))),
            ("confidence", formats.share(_float(payload.get("confidence")))),
        ]
    rows = [("decision", str(payload.get("decision")))]
    for key in ("revised_qty", "violations", "notes"):
        if payload.get(key):
            value = payload[key]
            rows.append(
                (
                    key.replace("_", " "),
                    "; ".join(map(str, value)) if isinstance(value, list) else str(value),
                )
            )
    return rows


def _float(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def _int(value: object) -> int | None:
    return value if isinstance(value, int) else None


def decisions_view(db: Database, trace_text: str) -> RenderableType:
    trace_id = queries.resolve_trace(db, trace_text)
    detail = queries.cycle_of(db, trace_id)
    made = queries.decisions(db, trace_id)
    table = Table(box=None, show_header=False, pad_edge=False, padding=(0, 1))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(ratio=1)
    for d in made:
        table.add_row(Text(d.agent), Text(d.model or "", style="dim"))
        for name, value in _fields(d.agent, d.payload):
            table.add_row(Text(f"  {name}"), Text(value))
        if d.fallback_reason:
            table.add_row(Text("  fallback"), Text(d.fallback_reason, style="yellow"))
    parts: list[RenderableType] = []
    if detail is not None:
        c = detail.cycle
        parts.append(
            Text(
                f"cycle {formats.when(c.cycle_ts)} UTC · run {c.run_id} · {trace_id}",
                style="bold",
            )
        )
        if c.arm:
            explored = "explore" if c.explore else "exploit"
            did = f"{cycle_outcome(c)} {formats.qty(c.qty)}" if c.action != "HOLD" else "hold"
            parts.append(Text(f"arm: {arm_label(c.arm)} ({explored}) · {did}"))
    else:
        parts.append(Text(trace_id, style="bold"))
    parts.append(table if made else Text("no decisions stored for this trace"))
    if detail is not None:
        for t in detail.fills:
            parts.append(
                Text(
                    f"fill: {t.side} {formats.qty(t.qty)} @ {formats.money(t.price)}, "
                    f"fee {formats.money(t.fee)} {t.fee_asset}"
                )
            )
        e = detail.experiment
        if e is not None:
            outcome = (
                formats.bp(e.reward) if e.reward is not None else f"due {formats.when(e.due_ts)}"
            )
            parts.append(Text(f"experiment {e.id}: outcome {outcome}"))
    return Group(*parts)


def show(console: Console, renderable: RenderableType) -> None:
    console.print(renderable, highlight=False)
