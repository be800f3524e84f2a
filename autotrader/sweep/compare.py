"""Sweeps of the agent side by side, per window and seed: each variant against the first folder
(the baseline) in the windows both finished, the windows it does better and worse in, and per
folder the mean return, trades, fees, largest drawdown and, where the fixed arms' jobs of those
windows are in any folder (or in `--arms DIR`), how often the agent is at or above the median
arm. `python -m autotrader.sweep.compare BASE VARIANT... [--arms DIR]` prints it: a research
change is judged on every window, not on one.
"""

from __future__ import annotations

import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from autotrader.sweep.plan import AGENT
from autotrader.sweep.results import RESULTS_FILE, Row, read_rows

TIE = 1e-5  # returns closer than a thousandth of a percent are the same result
JobKey = tuple[str, str, int]  # window, config, seed
WindowKey = tuple[str, str]  # window, config


@dataclass(frozen=True)
class Sweep:
    """A sweep folder's finished jobs: the agent's by window, config and seed; the fixed arms'
    returns by window and config."""

    name: str
    agent: dict[JobKey, Row]
    arms: dict[WindowKey, list[float]]


def load_sweep(folder: Path) -> Sweep:
    agent: dict[JobKey, Row] = {}
    arms: dict[WindowKey, list[float]] = {}
    for row in read_rows(folder / RESULTS_FILE):
        if row["status"] != "done":
            continue
        window = (str(row["window"]), str(row["config"]))
        if row["planner"] == AGENT:
            agent[(*window, int(row["seed"]))] = row
        else:
            arms.setdefault(window, []).append(float(row["return"]))
    return Sweep(folder.name or str(folder), agent, arms)


@dataclass(frozen=True)
class Summary:
    """One folder's agent over the jobs every folder finished, and against the baseline."""

    name: str
    jobs: int
    mean_return: float
    at_median: int
    with_arms: int
    trades: int
    fees: float
    max_drawdown: float
    better: int
    worse: int


def median_arms(sweeps: Sequence[Sweep]) -> dict[WindowKey, float]:
    """The median fixed arm's return per window, from the first folder holding its arms."""
    arms: dict[WindowKey, list[float]] = {}
    for sweep in sweeps:
        for window, returns in sweep.arms.items():
            arms.setdefault(window, returns)
    return {window: statistics.median(returns) for window, returns in arms.items()}


def shared_jobs(sweeps: Sequence[Sweep]) -> list[JobKey]:
    return sorted(set.intersection(*(set(s.agent) for s in sweeps)))


def summarize(
    sweeps: Sequence[Sweep], keys: Sequence[JobKey], medians: dict[WindowKey, float]
) -> list[Summary]:
    """Per folder, over the agent jobs `keys` (the first folder is the baseline)."""
    base = sweeps[0]
    summaries = []
    for sweep in sweeps:
        rows = [sweep.agent[key] for key in keys]
        diffs = [sweep.agent[k]["return"] - base.agent[k]["return"] for k in keys]
        judged = [(sweep.agent[k]["return"], medians[k[:2]]) for k in keys if k[:2] in medians]
        summaries.append(
            Summary(
                name=sweep.name,
                jobs=len(rows),
                mean_return=statistics.fmean(r["return"] for r in rows) if rows else 0.0,
                at_median=sum(value >= median - TIE for value, median in judged),
                with_arms=len(judged),
                trades=int(sum(r["trades"] or 0 for r in rows)),
                fees=sum(r["fees"] or 0.0 for r in rows),
                max_drawdown=max((r["max_drawdown"] or 0.0 for r in rows), default=0.0),
                better=sum(d > TIE for d in diffs),
                worse=sum(d < -TIE for d in diffs),
            )
        )
    return summaries


def window_table(
    sweeps: Sequence[Sweep], keys: Sequence[JobKey], medians: dict[WindowKey, float]
) -> Table:
    table = Table(title=Text("the agent per window and seed (return, trades)"))
    for heading in ("window", "seed", "median arm", *(s.name for s in sweeps)):
        table.add_column(Text(heading), justify="left" if heading == "window" else "right")
    for key in keys:
        median = medians.get(key[:2])
        cells = [
            f"{s.agent[key]['return']:+.2%} {int(s.agent[key]['trades'] or 0)}t" for s in sweeps
        ]
        label = key[0] if key[1] == "base" else f"{key[0]} [{key[1]}]"
        table.add_row(Text(label), str(key[2]), "-" if median is None else f"{median:+.2%}", *cells)
    return table


def summary_lines(summaries: Sequence[Summary]) -> list[str]:
    lines = []
    for i, s in enumerate(summaries):
        versus = "baseline" if i == 0 else f"better in {s.better}, worse in {s.worse}"
        median = ""
        if s.with_arms:
            median = f"at or above the median arm {s.at_median} of {s.with_arms}; "
        lines.append(
            f"{s.name}: {s.jobs} jobs, mean {s.mean_return:+.3%}; {median}{s.trades} trades, "
            f"fees {s.fees:.2f} USDT, largest drawdown {s.max_drawdown:.2%}; {versus}"
        )
    return lines


USAGE = (
    "usage: python -m autotrader.sweep.compare BASE_DIR VARIANT_DIR... [--arms DIR] "
    "(sweep output folders, each with sweep.csv)"
)


def main(argv: Sequence[str]) -> None:
    args = list(argv)
    arm_folders: list[Path] = []
    while "--arms" in args:
        at = args.index("--arms")
        if at + 1 >= len(args):
            raise SystemExit(USAGE)
        arm_folders.append(Path(args.pop(at + 1)))
        args.pop(at)
    folders = [Path(a) for a in args]
    missing = [str(f) for f in [*folders, *arm_folders] if not (f / RESULTS_FILE).is_file()]
    if len(folders) < 2 or missing:
        where = f"; no {RESULTS_FILE} in {', '.join(missing)}" if missing else ""
        raise SystemExit(USAGE + where)
    sweeps = [load_sweep(f) for f in folders]
    keys = shared_jobs(sweeps)
    if not keys:
        raise SystemExit("no agent job finished in every folder: compare sweeps of one spec")
    medians = median_arms([*(load_sweep(f) for f in arm_folders), *sweeps])
    console = Console(width=200)
    console.print(window_table(sweeps, keys, medians))
    for line in summary_lines(summarize(sweeps, keys, medians)):
        console.print(Text(line))


if __name__ == "__main__":
    main(sys.argv[1:])
