"""One sweep job in a worker: an ordinary replay through `run_agent` (the code path of
`runner.py run`) into the job's own database, then a small summary of it, written beside the
database as `<job>.json` once the run is DONE. That file is what makes a job finished: a re-run
skips it; a database without it is resumed (start_or_resume picks the unfinished run up).

A job never raises: `run_job` returns a summary or the job's error as one line.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import sqlite3
import time
from collections import Counter
from datetime import datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

from agents.models.interface import Model
from rich.console import Console

from autotrader.agents.offline import OfflineModel
from autotrader.agents.providers import ModelSet
from autotrader.config import Settings, load_settings
from autotrader.core.boot import RunOptions, run_agent
from autotrader.errors import describe
from autotrader.research.metrics import Point, hourly, max_drawdown, returns_of, sharpe
from autotrader.schemas import ROLES, Role
from autotrader.sweep.plan import Job

Summary = dict[str, Any]


class JobInterrupted(Exception):
    """The replay stopped (a signal) before the end of its window; a re-run resumes it."""


def pinned_models(arm: str, seed: int) -> ModelSet:
    """The fixed-arm baseline: the offline graph with its planner pinned to one arm."""
    models: dict[Role, Model] = {
        role: OfflineModel(role, seed, arm if role == "PLANNER" else None) for role in ROLES
    }
    names = {role: str(getattr(model, "name", role)) for role, model in models.items()}
    return ModelSet("offline", models, names, "pinned")


def job_settings(job: Job) -> Settings:
    values: dict[str, Any] = {"log_level": "ERROR", **dict(job.overrides)}
    return load_settings(
        env_file=None,
        **values,
        db_path=Path(job.db_path),
        replay_path=Path(job.replay_path),
        symbol=job.symbol,
        timeframe=job.timeframe,
        seed=job.seed,
        mode="paper",  # a sweep only ever replays, whatever MODE the environment holds
        feed="replay",
    )


def _finished_run(path: Path) -> str | None:
    """The run in the job's database that is DONE, if any (a job database holds one replay)."""
    if not path.exists():
        return None
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as raw:
            found = raw.execute(
                "SELECT run_id FROM runs WHERE status = 'DONE' ORDER BY started_at DESC LIMIT 1"
            ).fetchone()
    except sqlite3.Error:  # not (yet) an autotrader database: run_agent says what it is
        return None
    return None if found is None else str(found[0])


def _replay(job: Job) -> str:
    settings = job_settings(job)
    done = _finished_run(Path(job.db_path))
    if done is None:  # new, or interrupted: run_agent starts it or resumes it
        model_set = pinned_models(job.arm, job.seed) if job.arm else None
        options = RunOptions(start=job.start, until=job.until, model_set=model_set)
        asyncio.run(run_agent(settings, options, Console(file=io.StringIO())))
        done = _finished_run(Path(job.db_path))
    if done is None:
        raise JobInterrupted("stopped before the end of its window; run the sweep again")
    return done


def run_job(job: Job) -> Summary:
    """Run (or resume, or only summarize) one job; its summary, or {'error': one line}."""
    began, began_cpu = time.perf_counter(), time.process_time()
    try:
        Path(job.db_path).parent.mkdir(parents=True, exist_ok=True)
        run_id = _replay(job)  # run_agent holds the database's writer lock: one process a job
        summary = summarize_job(job, run_id)
        summary["wall_secs"] = round(time.perf_counter() - began, 3)
        summary["cpu_secs"] = round(time.process_time() - began_cpu, 3)  # this process's CPU
        temporary = job.result_path.with_suffix(".json.tmp")
        temporary.write_text(json.dumps(summary))
        temporary.replace(job.result_path)  # a finished job is a whole file or none
        return summary
    except BaseException as error:
        if isinstance(error, KeyboardInterrupt | SystemExit):
            error = JobInterrupted("interrupted; run the sweep again to resume it")
        return {"job_id": job.job_id, "error": describe(error).replace("\n", " ")}


# --- the summary: every number from the job's own rows ---


def mean_exposure(points: list[tuple[datetime, float]]) -> float:
    """Time-weighted mean of exposure (position value / equity) over the snapshots: each
    snapshot's exposure holds until the next snapshot; the last one has no weight."""
    total = weighted = 0.0
    for (ts, exposure), (nxt, _) in pairwise(points):
        span = (nxt - ts).total_seconds()
        total += span
        weighted += span * exposure
    return weighted / total if total > 0 else 0.0


def _curve(equity: list[Point], start: datetime, until: datetime) -> list[tuple[str, float]]:
    """Cumulative return at the end of each hour (windows up to 2 days) or each day."""
    step = timedelta(hours=1) if until - start <= timedelta(days=2) else timedelta(days=1)
    curve: list[tuple[str, float]] = []
    mark, index, first = start + step, 0, equity[0].value
    while mark < until + step:  # the last mark is the window's end
        while index + 1 < len(equity) and equity[index + 1].ts <= mark:
            index += 1
        curve.append((min(mark, until).isoformat(), equity[index].value / first - 1))
        mark += step
    return curve


def _quarters(cycles: list[tuple[datetime, str | None]], start: datetime, until: datetime) -> Any:
    span = until - start
    first = Counter(arm or "-" for ts, arm in cycles if ts < start + span / 4)
    last = Counter(arm or "-" for ts, arm in cycles if ts >= start + span * 3 / 4)
    return {"first": dict(first), "last": dict(last)}


def summarize_job(job: Job, run_id: str) -> Summary:
    quote = job.symbol.split("/")[1]
    with contextlib.closing(sqlite3.connect(f"file:{job.db_path}?mode=ro", uri=True)) as raw:
        rows = raw.execute(
            "SELECT ts_utc, equity, price, balances_json FROM portfolio "
            "WHERE run_id = ? AND equity IS NOT NULL ORDER BY id",
            (run_id,),
        ).fetchall()
        trades, fees = raw.execute(
            "SELECT count(*), coalesce(sum(CAST(fee AS REAL) * "
            "CASE WHEN fee_asset IN (?, '') THEN 1 ELSE CAST(price AS REAL) END), 0) "
            "FROM trades WHERE run_id = ?",
            (quote, run_id),
        ).fetchone()
        cycles = [
            (datetime.fromisoformat(ts), arm)
            for ts, arm in raw.execute(
                "SELECT cycle_ts, arm FROM cycles WHERE run_id = ? ORDER BY id", (run_id,)
            )
        ]
    if len(rows) < 2:
        raise ValueError(f"the replay left {len(rows)} portfolio snapshot(s); nothing to measure")
    equity = [Point(datetime.fromisoformat(ts), float(e)) for ts, e, _, _ in rows]
    prices = [float(p) for _, _, p, _ in rows]
    exposure = [
        (point.ts, 1 - float(json.loads(balances).get(quote, 0)) / point.value)
        for point, (_, _, _, balances) in zip(equity, rows, strict=True)
    ]
    total = equity[-1].value / equity[0].value - 1
    buy_hold = prices[-1] / prices[0] - 1
    ratio = sharpe(returns_of(hourly(equity)))
    mean = mean_exposure(exposure)
    return {
        "job_id": job.job_id,
        "run_id": run_id,
        "cycles": len(cycles),
        "return": total,
        "buy_hold": buy_hold,
        "mean_exposure": mean,
        "exposure_matched_buy_hold": exposure_matched(buy_hold, mean),
        "max_drawdown": max_drawdown(p.value for p in equity),
        "sharpe": ratio,
        "trades": int(trades),
        "fees": float(fees),
        "arms_by_quarter": _quarters(cycles, job.start, job.until),
        "curve": _curve(equity, job.start, job.until),
    }


def exposure_matched(buy_hold: float, mean_exposure: float) -> float:
    """Exposure-matched buy & hold: the return of putting the agent's time-weighted mean
    exposure ē (position value / equity, see mean_exposure) of the starting equity into the
    asset at the window's first snapshot and holding it to the last, the rest in cash, with no
    fees: ē x (last price / first price - 1). It is the passive benchmark that carries the same
    average market risk as the agent, so a 10%-exposed agent is not judged against 100%."""
    return mean_exposure * buy_hold
