"""`make bench`, part 2: does the agent learn? The same 30 days of real candles, the same seed:

- the agent (the offline planner exploring and exploiting over all arms);
- each arm alone (the planner pinned to one strategy family and parameter bucket);
- buy & hold.

Prints each one's return, Sharpe, drawdown, trades and fees, the agent's cumulative regret
against the best fixed arm in hindsight, day by day, and how its choice of arms shifted from its
first week to its last. Runs two replays at a time (one per core).
"""

from __future__ import annotations

import asyncio
import io
import sqlite3
import sys
import tempfile
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from agents.models.interface import Model
from rich.console import Console
from rich.table import Table

from autotrader.agents.offline import OfflineModel
from autotrader.agents.providers import ModelSet
from autotrader.config import load_settings
from autotrader.core.boot import RunOptions, run_agent
from autotrader.research.arms import ARM_PRESETS
from autotrader.research.metrics import Point, hourly, max_drawdown, returns_of, sharpe
from autotrader.schemas import ROLES, Role

SEED = 7


@dataclass(frozen=True)
class Result:
    label: str
    equity: list[Point]
    prices: list[Point]
    trades: int
    fees: float
    arms_first_week: dict[str, int]
    arms_last_week: dict[str, int]

    @property
    def total_return(self) -> float:
        return self.equity[-1].value / self.equity[0].value - 1


def replay(label: str, pinned_arm: str | None) -> Result:
    """One full replay of the bundled data in its own database."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "run.db"
        settings = load_settings(env_file=None, db_path=path, seed=SEED, log_level="ERROR")
        model_set = None
        if pinned_arm is not None:
            models: dict[Role, Model] = {
                role: OfflineModel(role, SEED, pinned_arm if role == "PLANNER" else None)
                for role in ROLES
            }
            names = {role: str(getattr(model, "name", role)) for role, model in models.items()}
            model_set = ModelSet("offline", models, names, "pinned")
        asyncio.run(
            run_agent(settings, RunOptions(model_set=model_set), Console(file=io.StringIO()))
        )
        with sqlite3.connect(path) as raw:
            snapshots = raw.execute(
                "SELECT ts_utc, equity, price FROM portfolio ORDER BY id"
            ).fetchall()
            trades, fees = raw.execute(
                "SELECT count(*), coalesce(sum(CAST(fee AS REAL)), 0) FROM trades"
            ).fetchone()
            cycles = raw.execute("SELECT cycle_ts, arm FROM cycles ORDER BY id").fetchall()
    equity = [Point(datetime.fromisoformat(ts), float(e)) for ts, e, _ in snapshots]
    prices = [Point(datetime.fromisoformat(ts), float(p)) for ts, _, p in snapshots]
    start = datetime.fromisoformat(cycles[0][0])
    end = datetime.fromisoformat(cycles[-1][0])
    first = Counter(arm for ts, arm in cycles if (datetime.fromisoformat(ts) - start).days < 7)
    last = Counter(arm for ts, arm in cycles if (end - datetime.fromisoformat(ts)).days < 7)
    return Result(label, equity, prices, trades, fees, dict(first), dict(last))


def _on_day_grid(points: list[Point]) -> dict[str, float]:
    """Cumulative return at the end of each simulated day."""
    by_day: dict[str, float] = {}
    for point in points:
        by_day[point.ts.strftime("%Y-%m-%d")] = point.value / points[0].value - 1
    return by_day


def main() -> None:
    console = Console()
    jobs = [("agent", None), *((f"{arm} alone", arm) for arm in ARM_PRESETS)]
    with ProcessPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(replay, *zip(*jobs, strict=True)))
    agent, fixed = results[0], results[1:]
    prices = agent.prices
    hold = Result(
        "buy & hold (all in)",
        [Point(p.ts, 1000 * p.value / prices[0].value) for p in prices],
        prices,
        1,
        0.0,
        {},
        {},
    )

    table = Table(
        title=f"make bench: learning on {prices[0].ts:%Y-%m-%d} -> {prices[-1].ts:%Y-%m-%d} "
        f"(bundled real BTC/USDT 5m candles, seed {SEED})"
    )
    for heading in ("run", "return", "Sharpe (hourly, ann.)", "max drawdown", "trades", "fees"):
        table.add_column(heading, justify="left" if heading == "run" else "right")
    for result in sorted([agent, *fixed, hold], key=lambda r: -r.total_return):
        ratio = sharpe(returns_of(hourly(result.equity)))
        table.add_row(
            result.label,
            f"{result.total_return:+.2%}",
            "-" if ratio is None else f"{ratio:.2f}",
            f"{max_drawdown([p.value for p in result.equity]):.2%}",
            str(result.trades),
            f"{result.fees:.2f}",
        )
    console.print(table)

    best = max(fixed, key=lambda r: r.total_return)
    agent_days, best_days = _on_day_grid(agent.equity), _on_day_grid(best.equity)
    regret = Table(
        title=f"cumulative regret against the best fixed arm in hindsight ({best.label})"
    )
    for heading in ("day", "agent return", "best arm return", "regret"):
        regret.add_column(heading, justify="right")
    days = sorted(set(agent_days) & set(best_days))
    for index, day in enumerate(days):
        if index % 5 == 0 or index == len(days) - 1:
            gap = best_days[day] - agent_days[day]
            regret.add_row(day, f"{agent_days[day]:+.2%}", f"{best_days[day]:+.2%}", f"{gap:+.2%}")
    console.print(regret)

    shift = Table(title="the agent's choice of arm (share of cycles)")
    for heading in ("arm", "first week", "last week"):
        shift.add_column(heading, justify="left" if heading == "arm" else "right")
    first_total = sum(agent.arms_first_week.values()) or 1
    last_total = sum(agent.arms_last_week.values()) or 1
    for arm in ARM_PRESETS:
        shift.add_row(
            arm,
            f"{agent.arms_first_week.get(arm, 0) / first_total:.0%}",
            f"{agent.arms_last_week.get(arm, 0) / last_total:.0%}",
        )
    console.print(shift)
    beaten = sum(agent.total_return > r.total_return for r in fixed)
    console.print(
        f"The agent beat {beaten} of {len(fixed)} fixed arms; its final regret against the best "
        f"({best.label}) is {best.total_return - agent.total_return:+.2%}."
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
