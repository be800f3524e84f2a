"""A sweep's results in one place: one row per job (what it ran, what it achieved, and how it
compares with the best fixed arm of the same window and configuration), as sweep.csv.

Regret is the best fixed arm's return minus the job's (positive: the arm did better). The best
arm's share is the fraction of the job's cycles whose plan put that arm first, in the first and
in the last quarter of the window: does the agent move toward the arm that turns out best?
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from autotrader.sweep.plan import AGENT, Job

RESULTS_FILE = "sweep.csv"
COLUMNS = [
    "job_id", "status", "error", "window", "file", "symbol", "timeframe", "start", "until",
    "config", "settings", "seed", "planner", "cycles", "return", "buy_hold",
    "exposure_matched_buy_hold", "mean_exposure", "max_drawdown", "sharpe", "trades", "fees",
    "best_arm", "best_arm_return", "regret", "best_arm_share_first_quarter",
    "best_arm_share_last_quarter", "wall_secs", "cpu_secs",
]  # fmt: skip
NUMBERS = {
    "cycles", "return", "buy_hold", "exposure_matched_buy_hold", "mean_exposure", "max_drawdown",
    "sharpe", "trades", "fees", "best_arm_return", "regret", "best_arm_share_first_quarter",
    "best_arm_share_last_quarter", "wall_secs", "cpu_secs", "seed",
}  # fmt: skip
Row = dict[str, Any]


def _share(counts: dict[str, int], arm: str) -> float | None:
    total = sum(counts.values())
    return counts.get(arm, 0) / total if total else None


def build_rows(jobs: Iterable[Job], summaries: dict[str, dict[str, Any]]) -> list[Row]:
    rows: list[Row] = []
    for job in jobs:
        summary = summaries.get(job.job_id)
        status = "pending" if summary is None else "failed" if "error" in summary else "done"
        summary = summary or {}
        row: Row = {
            "job_id": job.job_id,
            "status": status,
            "error": summary.get("error", ""),
            "window": job.window,
            "file": job.file,
            "symbol": job.symbol,
            "timeframe": job.timeframe,
            "start": job.start.isoformat(),
            "until": job.until.isoformat(),
            "config": job.config,
            "settings": json.dumps(dict(job.overrides), sort_keys=True),
            "seed": job.seed,
            "planner": job.planner,
        }
        row.update({key: summary.get(key) for key in COLUMNS if key not in row})
        row["_arms"] = summary.get("arms_by_quarter")
        rows.append(row)
    _compare_with_best_arm(rows)
    return rows


def _compare_with_best_arm(rows: list[Row]) -> None:
    groups: dict[tuple[str, str], list[Row]] = {}
    for row in rows:
        groups.setdefault((row["window"], row["config"]), []).append(row)
    for group in groups.values():
        arms = [r for r in group if r["planner"] != AGENT and r["status"] == "done"]
        if not arms:
            continue
        best = max(arms, key=lambda r: (r["return"], r["planner"]))
        for row in group:
            row["best_arm"], row["best_arm_return"] = best["planner"], best["return"]
            if row["status"] != "done":
                continue
            row["regret"] = best["return"] - row["return"]
            quarters = row.get("_arms") or {}
            row["best_arm_share_first_quarter"] = _share(quarters.get("first", {}), best["planner"])
            row["best_arm_share_last_quarter"] = _share(quarters.get("last", {}), best["planner"])


def write_rows(path: Path, rows: list[Row]) -> None:
    temporary = path.with_suffix(".csv.tmp")
    with temporary.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows({k: ("" if v is None else v) for k, v in row.items()} for row in rows)
    temporary.replace(path)


def read_rows(path: Path) -> list[Row]:
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        for key in NUMBERS & row.keys():
            text = row[key]
            row[key] = None if text == "" else float(text)
    return rows


def read_curve(folder: Path, job_id: str) -> list[tuple[datetime, float]]:
    """A finished job's daily equity curve from DIR/jobs/<job>.json; empty if it has none."""
    try:
        data = json.loads((folder / "jobs" / f"{job_id}.json").read_text())
    except (OSError, ValueError):
        return []
    return [(datetime.fromisoformat(ts), float(value)) for ts, value in data.get("curve", [])]
