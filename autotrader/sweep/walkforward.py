"""The walk-forward table of a finished sweep: per window, the agent (median across seeds)
against exposure-matched buy & hold, buy & hold, the median and the best fixed arm; its regret
against that best arm at 25, 50, 75 and 100% of the window; fees (and fees per 30 days as a
share of the starting equity); max drawdown beside buy & hold's. `python -m
autotrader.sweep.walkforward DIR` prints it for the sweep in DIR, with the issue's targets and
how much the fixed arms' first half of each window says about their second (all that any
learner has to go on).
"""

from __future__ import annotations

import contextlib
import sqlite3
import statistics
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from autotrader.research.metrics import max_drawdown
from autotrader.sweep.plan import AGENT
from autotrader.sweep.results import RESULTS_FILE, Row, read_curve, read_rows

QUARTERS = (0.25, 0.5, 0.75, 1.0)


def _curve(folder: Path, job_id: str) -> list[float]:
    return [value for _, value in read_curve(folder, job_id)]


def _marks(folder: Path, job_id: str) -> tuple[float | None, float | None]:
    """The job's starting equity and buy & hold's max drawdown over its snapshots' prices,
    read from its own database."""
    path = folder / "jobs" / f"{job_id}.db"
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as raw:
            rows = raw.execute(
                "SELECT equity, price FROM portfolio WHERE equity IS NOT NULL ORDER BY id"
            ).fetchall()
    except sqlite3.Error:
        return None, None
    if not rows:
        return None, None
    return float(rows[0][0]), max_drawdown(float(price) for _, price in rows)


def _at(curve: Sequence[float], fraction: float) -> float | None:
    if not curve:
        return None
    return curve[max(0, round(fraction * len(curve)) - 1)]


def _median(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


def _halves(curve: Sequence[float]) -> tuple[float, float] | None:
    """The return over the first half of a job's curve and over its second half."""
    middle, end = _at(curve, 0.5), _at(curve, 1.0)
    if middle is None or end is None:
        return None
    return middle, (1 + end) / (1 + middle) - 1


def window_results(folder: Path) -> list[dict[str, Any]]:
    """One dict per window: every figure of the table, medians across the agent's seeds."""
    rows = [r for r in read_rows(folder / RESULTS_FILE) if r["status"] == "done"]
    windows: dict[str, list[Row]] = {}
    for row in rows:
        windows.setdefault(str(row["window"]), []).append(row)
    results = []
    for window, group in windows.items():
        agents = [r for r in group if r["planner"] == AGENT]
        arms = [r for r in group if r["planner"] != AGENT]
        if not agents or not arms:
            continue
        best = max(arms, key=lambda r: (r["return"], r["planner"]))
        arm_curves = {str(r["planner"]): _curve(folder, str(r["job_id"])) for r in arms}
        best_curve = arm_curves[str(best["planner"])]
        regrets = {
            q: _median(
                [
                    None if (b := _at(best_curve, q)) is None or (a := _at(c, q)) is None else b - a
                    for c in (_curve(folder, str(r["job_id"])) for r in agents)
                ]
            )
            for q in QUARTERS
        }
        start, until = (datetime.fromisoformat(str(agents[0][k])) for k in ("start", "until"))
        days = max((until - start).total_seconds() / 86400, 1e-9)
        marks = [_marks(folder, str(r["job_id"])) for r in agents]
        equity = [start or 1000.0 for start, _ in marks]
        fees = [r["fees"] for r in agents]
        results.append(
            {
                "window": window,
                "timeframe": agents[0]["timeframe"],
                "days": days,
                "agent": _median([r["return"] for r in agents]),
                "exposure_matched": _median([r["exposure_matched_buy_hold"] for r in agents]),
                "buy_hold": agents[0]["buy_hold"],
                "median_arm": _median([r["return"] for r in arms]),
                "best_arm": best["planner"],
                "best_arm_return": best["return"],
                "regret": regrets,
                "fees": _median(fees),
                "fees_per_30d": _median(
                    [f / e * 30 / days for f, e in zip(fees, equity, strict=True)]
                ),
                "max_drawdown": _median([r["max_drawdown"] for r in agents]),
                "buy_hold_max_drawdown": _median([drawdown for _, drawdown in marks]),
                "arm_returns": {str(r["planner"]): r["return"] for r in arms},
                "arm_halves": {
                    arm: halves
                    for arm, curve in arm_curves.items()
                    if (halves := _halves(curve)) is not None
                },
                "share_first": _median([r["best_arm_share_first_quarter"] for r in agents]),
                "share_last": _median([r["best_arm_share_last_quarter"] for r in agents]),
            }
        )
    return results


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:+.2%}"


def walkforward_table(results: Sequence[dict[str, Any]], title: str) -> Table:
    table = Table(title=Text(title))
    headings = (
        "window", "agent", "exp.-matched B&H", "B&H", "median arm", "best arm",
        "regret 25/50/75/100%", "fees (per 30 d)", "max DD (B&H)", "on best arm Q1->Q4",
    )  # fmt: skip
    for heading in headings:
        table.add_column(heading, justify="left" if heading == "window" else "right")
    for r in results:
        regret = " ".join(_pct(r["regret"][q]) for q in QUARTERS)
        shares = (
            f"{r['share_first']:.0%} -> {r['share_last']:.0%}"
            if r["share_first"] is not None and r["share_last"] is not None
            else "-"
        )
        table.add_row(
            Text(r["window"]),
            _pct(r["agent"]),
            _pct(r["exposure_matched"]),
            _pct(r["buy_hold"]),
            _pct(r["median_arm"]),
            Text(f"{r['best_arm']} {_pct(r['best_arm_return'])}"),
            regret,
            f"{r['fees']:.2f} ({r['fees_per_30d']:.2%})",
            f"{r['max_drawdown']:.2%} ({_dd(r['buy_hold_max_drawdown'])})",
            shares,
        )
    return table


def _ranks(values: Sequence[float]) -> list[float]:
    """Each value's rank from 1, ties sharing their average rank."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        for i in order[start : end + 1]:
            ranks[i] = (start + end) / 2 + 1
        start = end + 1
    return ranks


def persistence(results: Sequence[dict[str, Any]]) -> tuple[float | None, int, int]:
    """How far the fixed arms' first half of a window predicts their second: the mean rank
    correlation (Spearman's) of their returns over the two halves, and in how many of the
    windows with three arms or more the first half's best arm is at or above the second half's
    median arm (what following the first half's leader through the second would give)."""
    correlations, hits, windows = [], 0, 0
    for r in results:
        halves: dict[str, tuple[float, float]] = r.get("arm_halves") or {}
        if len(halves) < 3:
            continue
        arms = sorted(halves)
        first, second = ([halves[a][i] for a in arms] for i in (0, 1))
        windows += 1
        leader = max(arms, key=lambda a: (halves[a][0], a))
        hits += halves[leader][1] >= statistics.median(second)
        with contextlib.suppress(statistics.StatisticsError):  # a half where all arms tie
            correlations.append(statistics.correlation(_ranks(first), _ranks(second)))
    mean = statistics.fmean(correlations) if correlations else None
    return mean, hits, windows


def _dd(value: float | None) -> str:
    return "-" if value is None else f"{value:.2%}"


def targets(results: Sequence[dict[str, Any]]) -> list[str]:
    """The issue's targets on these windows, each with what was measured."""
    n = len(results)
    if n == 0:
        return ["no finished windows"]
    at_median = sum(r["agent"] >= r["median_arm"] for r in results)
    mean_agent = statistics.fmean(r["agent"] for r in results)
    names = set.intersection(*(set(r["arm_returns"]) for r in results))
    means = {a: statistics.fmean(r["arm_returns"][a] for r in results) for a in names}
    top = max(means, key=lambda a: (means[a], a)) if means else "-"
    matched = sum(r["agent"] >= r["exposure_matched"] for r in results)
    drawdown = sum(
        r["buy_hold_max_drawdown"] is not None and r["max_drawdown"] <= r["buy_hold_max_drawdown"]
        for r in results
    )
    sublinear = sum(
        r["regret"][1.0] is not None
        and r["regret"][0.5] is not None
        and r["regret"][1.0] <= max(1.5 * r["regret"][0.5], 0.0)
        for r in results
    )
    five = [r for r in results if r["timeframe"] == "5m"]
    cheap = sum(r["fees_per_30d"] < 0.01 for r in five)
    grows = sum(
        r["share_first"] is not None
        and r["share_last"] is not None
        and r["share_last"] > r["share_first"]
        for r in results
    )
    correlation, leader_hits, judged = persistence(results)
    return [
        f"agent at or above the median fixed arm: {at_median} of {n} windows (target: all)",
        f"agent's mean return {mean_agent:+.2%} vs the best fixed arm on average ({top}, "
        f"{means.get(top, 0.0):+.2%}) (target: above)",
        f"at or above exposure-matched buy & hold: {matched} of {n} (target: most)",
        f"max drawdown at or below buy & hold's: {drawdown} of {n} (target: all)",
        f"regret at 100% <= 1.5 x regret at 50% (or none): {sublinear} of {n} (target: all)",
        f"fees below 1% of equity per 30 days on 5m: {cheap} of {len(five)} (target: all)",
        f"share of cycles on the best arm grows Q1 -> Q4: {grows} of {n} (target: all)",
        "what the arms' first half of a window says of their second: rank correlation "
        f"{'-' if correlation is None else f'{correlation:+.2f}'} on average; the first half's "
        f"best arm at or above the second half's median arm in {leader_hits} of {judged}",
    ]


def markdown(results: Sequence[dict[str, Any]]) -> str:
    """The table as Markdown, for the README."""
    lines = [
        "| window | agent | exp.-matched B&H | B&H | median arm | best arm | regret 25/50/75/100% "
        "| fees, USDT (per 30 d) | max DD (B&H) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        regret = " / ".join(_pct(r["regret"][q]) for q in QUARTERS)
        lines.append(
            f"| {r['window']} | {_pct(r['agent'])} | {_pct(r['exposure_matched'])} | "
            f"{_pct(r['buy_hold'])} | {_pct(r['median_arm'])} | {r['best_arm']} "
            f"{_pct(r['best_arm_return'])} | {regret} | {r['fees']:.2f} ({r['fees_per_30d']:.2%}) "
            f"| {r['max_drawdown']:.2%} ({_dd(r['buy_hold_max_drawdown'])}) |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str]) -> None:
    as_markdown = "--markdown" in argv
    argv = [a for a in argv if a != "--markdown"]
    if len(argv) != 1 or not (Path(argv[0]) / RESULTS_FILE).is_file():
        raise SystemExit(
            "usage: python -m autotrader.sweep.walkforward SWEEP_DIR [--markdown] "
            "(a sweep's output folder, with sweep.csv)"
        )
    folder = Path(argv[0])
    console = Console(width=200)
    results = window_results(folder)
    if as_markdown:
        print(markdown(results))
    else:
        console.print(walkforward_table(results, f"walk-forward: {folder}"))
    for line in targets(results):
        console.print(Text(line))


if __name__ == "__main__":
    main(sys.argv[1:])
