"""How a run went on its model, from the run's own rows (read-only): cycles, seconds per
cycle, and per agent how many decisions the model made and how many were safe fallbacks,
with the commonest reasons. A guardrail's override is the model's decision, not a fallback."""

from __future__ import annotations

import sqlite3
from collections import Counter
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

from autotrader.errors import ConfigError

AGENTS = ("PLANNER", "TRADER", "JUDGE")
GUARDRAIL_PREFIX = "guardrail:"
TOP_REASONS = 3


@dataclass(frozen=True)
class AgentShare:
    agent: str
    decisions: int
    fallbacks: int
    reasons: tuple[tuple[str, int], ...]  # (reason, how often), commonest first

    @property
    def by_model(self) -> int:
        return self.decisions - self.fallbacks


@dataclass(frozen=True)
class RunReport:
    run_id: str
    status: str
    provider: str
    models: str
    cycles: int
    error_cycles: int
    executed: int
    seconds_per_cycle: float
    calls_per_cycle: float
    wall_seconds: float | None
    orders: tuple[tuple[str, int], ...]  # (status, how many): sent, filled or refused
    agents: tuple[AgentShare, ...]


def reason_kind(reason: str) -> str:
    """A fallback reason without its details (the text before the first colon)."""
    return reason.split(":", 1)[0].strip()[:80]


def _connect(path: Path) -> sqlite3.Connection:
    if not path.is_file():
        raise ConfigError(f"no database at {path}; run the agent first or pass --db")
    return sqlite3.connect(f"file:{quote(str(path.absolute()))}?mode=ro", uri=True)


def read_report(path: Path, run_id: str | None = None) -> RunReport:
    """The report of `run_id`, or of the latest run in the database."""
    with closing(_connect(path)) as db:
        query = "SELECT run_id, status, provider, models_json, started_at, finished_at FROM runs"
        row = (
            db.execute(f"{query} WHERE run_id = ?", (run_id,)).fetchone()
            if run_id
            else db.execute(f"{query} ORDER BY started_at DESC LIMIT 1").fetchone()
        )
        if row is None:
            raise ConfigError(f"no run {run_id or ''} in {path}".replace("  ", " "))
        run, status, provider, models, started, finished = row
        cycles, errors, executed, total_ms, calls = db.execute(
            "SELECT count(*), coalesce(sum(status = 'ERROR'), 0), coalesce(sum(executed), 0), "
            "coalesce(sum(duration_ms), 0), coalesce(sum(model_calls), 0) FROM cycles "
            "WHERE run_id = ?",
            (run,),
        ).fetchone()
        orders = db.execute(
            "SELECT o.status, count(*) FROM orders o JOIN cycles c ON c.trace_id = o.trace_id "
            "WHERE c.run_id = ? GROUP BY o.status ORDER BY o.status",
            (run,),
        ).fetchall()
        decisions = db.execute(
            "SELECT d.agent, d.fallback_reason FROM decisions d "
            "JOIN cycles c ON c.trace_id = d.trace_id WHERE c.run_id = ?",
            (run,),
        ).fetchall()
    wall = (
        (datetime.fromisoformat(finished) - datetime.fromisoformat(started)).total_seconds()
        if started and finished
        else None
    )
    return RunReport(
        run_id=run,
        status=status,
        provider=provider,
        models=models,
        cycles=cycles,
        error_cycles=errors,
        executed=executed,
        seconds_per_cycle=total_ms / 1000 / cycles if cycles else 0.0,
        calls_per_cycle=calls / cycles if cycles else 0.0,
        wall_seconds=wall,
        orders=tuple((str(status), int(count)) for status, count in orders),
        agents=tuple(_share(agent, decisions) for agent in AGENTS),
    )


def _share(agent: str, decisions: list[tuple[str, str | None]]) -> AgentShare:
    mine = [reason for who, reason in decisions if who == agent]
    fallbacks = [r for r in mine if r is not None and not r.startswith(GUARDRAIL_PREFIX)]
    reasons = Counter(reason_kind(r) for r in fallbacks).most_common(TOP_REASONS)
    return AgentShare(agent, len(mine), len(fallbacks), tuple(reasons))


def _pct(part: int, whole: int) -> str:
    return f"{part / whole:.0%}" if whole else "-"


def format_report(report: RunReport) -> str:
    wall = f", {report.wall_seconds:.0f} s wall" if report.wall_seconds is not None else ""
    orders = ", ".join(f"{count} {status}" for status, count in report.orders) or "none"
    lines = [
        f"run {report.run_id} ({report.status}) on {report.provider} {report.models}",
        f"cycles: {report.cycles} ({report.error_cycles} failed), "
        f"{report.seconds_per_cycle:.1f} s and {report.calls_per_cycle:.1f} model calls per "
        f"cycle{wall}",
        f"orders: {orders}; {report.executed} cycles executed a trade",
    ]
    for share in report.agents:
        lines.append(
            f"{share.agent:<8} decided by the model {share.by_model}/{share.decisions} "
            f"({_pct(share.by_model, share.decisions)}), "
            f"by a fallback {share.fallbacks} ({_pct(share.fallbacks, share.decisions)})"
        )
        lines += [f"           {count} x {reason}" for reason, count in share.reasons]
    return "\n".join(lines)
