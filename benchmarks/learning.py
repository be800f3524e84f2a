"""`make bench`, part 2: does the agent learn? The sweep spec sweeps/learning.toml, run through
the sweep machinery (one job per replay, two at a time on the process pool): the same 30 days
of real candles and seed for

- the agent (the offline planner exploring and exploiting over all arms);
- each arm alone (the planner pinned to one strategy family and parameter bucket);
- buy & hold.

Prints each one's return, Sharpe, drawdown, trades and fees, the agent's cumulative regret
against the best fixed arm in hindsight, day by day, how its choice of arms shifted from the
first quarter of the month to the last, and the walk-forward table (autotrader/sweep/
walkforward.py) with the issue's targets.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from autotrader.research.arms import ARM_PRESETS
from autotrader.sweep.backends import ProcessPool
from autotrader.sweep.plan import AGENT, REPO_ROOT, data_dir, plan_jobs
from autotrader.sweep.results import Row
from autotrader.sweep.run import execute
from autotrader.sweep.spec import load_spec
from autotrader.sweep.walkforward import targets, walkforward_table, window_results

SPEC = REPO_ROOT / "sweeps" / "learning.toml"


def _label(row: Row) -> str:
    return "agent" if row["planner"] == AGENT else f"{row['planner']} alone"


def main() -> None:
    console = Console()
    spec = load_spec(SPEC)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        jobs = plan_jobs(spec, SPEC, data_dir(None), out)
        backend = ProcessPool(2)
        try:
            outcome = execute(jobs, backend, out, Console(stderr=True))
        finally:
            backend.close()
        summaries: dict[str, dict[str, Any]] = {
            job.job_id: json.loads(job.result_path.read_text()) for job in jobs
        }
        walkforward = window_results(out)  # reads the jobs' databases: before they go
    failed = [row for row in outcome.rows if row["status"] != "done"]
    if failed:
        raise SystemExit(f"learning bench: {len(failed)} job(s) failed: {failed[0]['error']}")
    rows = outcome.rows
    agent = next(row for row in rows if row["planner"] == AGENT)
    fixed = [row for row in rows if row["planner"] != AGENT]

    table = Table(
        title=f"make bench: learning on {agent['window']} (bundled real candles, seed "
        f"{agent['seed']}), {len(rows)} replays through the sweep in {outcome.wall_secs:.0f} s"
    )
    for heading in ("run", "return", "Sharpe (hourly, ann.)", "max drawdown", "trades", "fees"):
        table.add_column(heading, justify="left" if heading == "run" else "right")
    hold = {"label": "buy & hold (all in)", "return": agent["buy_hold"], "sharpe": None,
            "max_drawdown": None, "trades": 1, "fees": 0.0}  # fmt: skip
    entries = [{**row, "label": _label(row)} for row in rows] + [hold]
    for entry in sorted(entries, key=lambda e: -e["return"]):
        table.add_row(
            entry["label"],
            f"{entry['return']:+.2%}",
            "-" if entry["sharpe"] is None else f"{entry['sharpe']:.2f}",
            "-" if entry["max_drawdown"] is None else f"{entry['max_drawdown']:.2%}",
            str(int(entry["trades"])),
            f"{entry['fees']:.2f}",
        )
    console.print(table)

    best = max(fixed, key=lambda r: r["return"])
    agent_days = dict(summaries[agent["job_id"]]["curve"])
    best_days = dict(summaries[best["job_id"]]["curve"])
    regret = Table(
        title=f"cumulative regret against the best fixed arm in hindsight ({_label(best)})"
    )
    for heading in ("day", "agent return", "best arm return", "regret"):
        regret.add_column(heading, justify="right")
    days = sorted(set(agent_days) & set(best_days))
    for index, day in enumerate(days):
        if index % 5 == 4 or index == len(days) - 1:
            gap = best_days[day] - agent_days[day]
            regret.add_row(
                day[:10], f"{agent_days[day]:+.2%}", f"{best_days[day]:+.2%}", f"{gap:+.2%}"
            )
    console.print(regret)

    quarters = summaries[agent["job_id"]]["arms_by_quarter"]
    shift = Table(title="the agent's choice of arm (share of cycles)")
    for heading in ("arm", "first quarter", "last quarter"):
        shift.add_column(heading, justify="left" if heading == "arm" else "right")
    first_total = sum(quarters["first"].values()) or 1
    last_total = sum(quarters["last"].values()) or 1
    for arm in ARM_PRESETS:
        shift.add_row(
            arm,
            f"{quarters['first'].get(arm, 0) / first_total:.0%}",
            f"{quarters['last'].get(arm, 0) / last_total:.0%}",
        )
    console.print(shift)
    beaten = sum(agent["return"] > r["return"] for r in fixed)
    console.print(
        f"The agent beat {beaten} of {len(fixed)} fixed arms; its final regret against the best "
        f"({_label(best)}) is {agent['regret']:+.2%}; exposure-matched buy & hold "
        f"{agent['exposure_matched_buy_hold']:+.2%} (mean exposure {agent['mean_exposure']:.0%})."
    )
    console.print(walkforward_table(walkforward, "the walk-forward table of this window"))
    for line in targets(walkforward):
        console.print(Text(line))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
