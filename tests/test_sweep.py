"""The sweep: every job an ordinary replay in its own database; a killed sweep resumes to the
same results; a failing job is reported with its error and the others finish."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from autotrader.sweep.backends import InProcess
from autotrader.sweep.job import exposure_matched, job_settings, mean_exposure
from autotrader.sweep.plan import Job, plan_jobs
from autotrader.sweep.report import write_sweep_report
from autotrader.sweep.results import build_rows, read_rows, write_rows
from autotrader.sweep.run import execute
from autotrader.sweep.spec import load_spec
from autotrader.sweep.walkforward import QUARTERS, persistence, targets, window_results
from tests.conftest import REPO_ROOT, clean_env

SPEC = """
name = "t"
seeds = [1, 2]
baselines = {baselines}
[[data]]
file = "binance_BTCUSDT_5m_2025-09-06_2025-10-06.csv.gz"
symbol = "BTC/USDT"
timeframes = ["5m"]
windows = [{{ from = "2025-09-20", until = "{until}" }}]
"""
MEASURES = ["cycles", "return", "buy_hold", "exposure_matched_buy_hold", "mean_exposure",
            "max_drawdown", "sharpe", "trades", "fees"]  # fmt: skip


def _plan(tmp_path: Path, baselines: str, until: str) -> tuple[Path, list[Job]]:
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC.format(baselines=baselines, until=until))
    return spec, plan_jobs(load_spec(spec), spec, tmp_path, tmp_path / "out")


def _cycles(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as raw:
            return int(raw.execute("SELECT count(*) FROM cycles").fetchone()[0])
    except sqlite3.Error:  # not created yet
        return 0


def _runs(db: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as raw:
        return raw.execute("SELECT run_id, status FROM runs").fetchall()


def _sweep(spec: Path, out: Path) -> list[str]:
    return [sys.executable, str(REPO_ROOT / "runner.py"), "sweep", str(spec), "--out", str(out),
            "--workers", "1"]  # fmt: skip


def test_a_killed_sweep_resumes_to_the_same_results(tmp_path: Path) -> None:
    spec, (first, second) = _plan(tmp_path, "[]", "2025-09-20T08:00")
    out = tmp_path / "out"
    process = subprocess.Popen(
        _sweep(spec, out),
        cwd=tmp_path,
        env=clean_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: the kill takes the workers too
    )
    deadline = time.monotonic() + 120
    while not (first.result_path.exists() and _cycles(Path(second.db_path)) >= 5):
        assert process.poll() is None and time.monotonic() < deadline, "finished before the kill"
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGKILL)  # no cleanup anywhere: as a crash or a power cut
    process.wait()
    assert not second.result_path.exists()
    [(run_id, status)] = _runs(Path(second.db_path))
    assert status == "RUNNING"
    finished = first.result_path.read_text()

    again = subprocess.run(
        _sweep(spec, out),
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert again.returncode == 0, again.stdout + again.stderr
    assert "2 jobs, 1 already finished, 1 to run" in again.stdout
    assert first.result_path.read_text() == finished  # skipped, not re-run
    assert _runs(Path(second.db_path)) == [(run_id, "DONE")]  # the same run, resumed

    # The interrupted job's numbers are those of the same replay never interrupted.
    assert _measures_of(out / "sweep.csv", second) == _straight(tmp_path / "reference", second)


def _measures_of(results: Path, job: Job) -> dict[str, Any]:
    [row] = [row for row in read_rows(results) if row["job_id"] == job.job_id]
    return {key: row[key] for key in MEASURES}


def _straight(folder: Path, job: Job) -> Any:
    """The job replayed from scratch, in this process, in another folder."""
    fresh = replace(job, db_path=str(folder / "jobs" / Path(job.db_path).name))
    with Path(os.devnull).open("w") as quiet:
        [row] = execute([fresh], InProcess(), folder, Console(file=quiet)).rows
    return pytest.approx({key: row[key] for key in MEASURES})


def test_a_failing_job_is_reported_and_the_others_finish(tmp_path: Path) -> None:
    _, jobs = _plan(tmp_path, '["cash"]', "2025-09-20T02:00")
    broken = jobs[1]
    Path(broken.db_path).parent.mkdir(parents=True)
    Path(broken.db_path).write_bytes(b"not a database, and not ours to touch" * 100)
    console = Console(file=(tmp_path / "console.txt").open("w"), width=200)
    outcome = execute(jobs, InProcess(), tmp_path / "out", console)
    console.file.close()
    assert (outcome.ran, outcome.failed) == (3, 1)
    statuses = {row["job_id"]: (row["status"], row["error"]) for row in outcome.rows}
    assert [s for s, _ in statuses.values()].count("done") == 2
    status, error = statuses[broken.job_id]
    assert status == "failed" and broken.db_path in error
    assert f"failed {broken.job_id}" in (tmp_path / "console.txt").read_text()
    assert Path(broken.db_path).read_bytes().startswith(b"not a database")
    assert [r["status"] for r in read_rows(tmp_path / "out" / "sweep.csv")].count("failed") == 1


def test_regret_is_against_the_best_fixed_arm_of_the_same_window() -> None:
    start = datetime(2025, 9, 20, tzinfo=UTC)
    jobs = [
        Job(f"j{i}", "w", "f", "p", "BTC/USDT", "5m", start, start + timedelta(hours=8), "base",
            (), 1, planner, f"/x/j{i}.db")
        for i, planner in enumerate(["agent", "cash", "breakout:60"])
    ]  # fmt: skip
    arms = {"first": {"cash": 3, "breakout:60": 1}, "last": {"breakout:60": 4}}
    summaries: dict[str, dict[str, Any]] = {
        "j0": {"return": -0.01, "arms_by_quarter": arms},
        "j1": {"return": 0.0},
        "j2": {"return": 0.02},
    }
    agent, hold, best = build_rows(jobs, summaries)
    assert agent["best_arm"] == "breakout:60"
    assert agent["regret"] == pytest.approx(0.03) and hold["regret"] == pytest.approx(0.02)
    assert best["regret"] == 0
    assert (agent["best_arm_share_first_quarter"], agent["best_arm_share_last_quarter"]) == (
        0.25,
        1.0,
    )


def test_exposure_matched_buy_and_hold_scales_by_the_time_weighted_exposure() -> None:
    start = datetime(2025, 9, 20, tzinfo=UTC)
    points = [(start, 0.0), (start + timedelta(hours=1), 0.5), (start + timedelta(hours=4), 1.0)]
    assert mean_exposure(points) == pytest.approx((0 * 1 + 0.5 * 3) / 4)
    assert exposure_matched(0.10, mean_exposure(points)) == pytest.approx(0.0375)


def test_a_job_summary_is_small() -> None:
    summary = {"curve": [["2025-09-20T01:00:00+00:00", 0.001]] * 48, "cycles": 100}
    assert len(json.dumps(summary)) < 4000


def test_the_sweep_report_has_a_table_per_window_a_winner_and_two_charts(tmp_path: Path) -> None:
    start = datetime(2025, 9, 20, tzinfo=UTC)
    jobs, summaries = [], {}
    for i, (window, planner, seed, result) in enumerate(
        [("w1", "agent", 1, 0.01), ("w1", "agent", 2, 0.03), ("w1", "cash", 1, 0.0),
         ("w2", "agent", 1, -0.02), ("w2", "cash", 1, 0.0)]
    ):  # fmt: skip
        until = start + timedelta(hours=2)
        job = Job(f"j{i}", window, "f", "p", "BTC/USDT", "5m", start, until, "base", (), seed,
                  planner, f"/x/j{i}.db")  # fmt: skip
        jobs.append(job)
        curve = [[(start + timedelta(hours=h)).isoformat(), result * h / 2] for h in (1, 2)]
        summaries[f"j{i}"] = {"return": result, "buy_hold": 0.05, "curve": curve}
    (tmp_path / "jobs").mkdir()
    for job_id, summary in summaries.items():
        (tmp_path / "jobs" / f"{job_id}.json").write_text(json.dumps(summary))
    write_rows(tmp_path / "sweep.csv", build_rows(jobs, summaries))
    console = Console(file=(tmp_path / "out.txt").open("w"), width=200)
    out = write_sweep_report(tmp_path, console)
    console.file.close()
    text = (tmp_path / "out.txt").read_text()
    assert text.count("(buy & hold +5.00%)") == 2  # one table per window
    assert "+2.00%" in text and "+1.00% .. +3.00%" in text  # median and spread of 2 seeds
    assert "agent (base)" in text and "cash (base)" in text  # w1's and w2's winners
    assert (out / "returns.png").stat().st_size > 10_000
    assert (out / "regret.png").stat().st_size > 10_000


def test_a_sweep_only_replays_whatever_mode_the_environment_holds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODE", "real")
    monkeypatch.setenv("FEED", "live")
    _, jobs = _plan(tmp_path, "[]", "2025-09-20T02:00")
    settings = job_settings(jobs[0])
    assert (settings.mode, settings.resolved_feed) == ("paper", "replay")


def test_the_walkforward_table_takes_regret_at_each_quarter_of_the_window(tmp_path: Path) -> None:
    start = datetime(2025, 9, 20, tzinfo=UTC)
    jobs = [
        Job(f"j{i}", "w", "f", "p", "BTC/USDT", "5m", start, start + timedelta(days=30), "base",
            (), 1, planner, str(tmp_path / "jobs" / f"j{i}.db"))
        for i, planner in enumerate(["agent", "cash", "breakout:60"])
    ]  # fmt: skip
    curves = {"j0": [0.0, 0.01, 0.01, 0.025], "j1": [0.0] * 4, "j2": [0.01, 0.03, 0.04, 0.05]}
    summaries: dict[str, dict[str, Any]] = {
        job: {"return": curve[-1], "buy_hold": 0.1, "exposure_matched_buy_hold": 0.01,
              "max_drawdown": 0.01, "fees": 3.0}
        for job, curve in curves.items()
    }  # fmt: skip
    (tmp_path / "jobs").mkdir()
    for job, curve in curves.items():
        points = [[f"2025-09-2{i}T00:00:00+00:00", v] for i, v in enumerate(curve)]
        (tmp_path / "jobs" / f"{job}.json").write_text(json.dumps({"curve": points}))
    write_rows(tmp_path / "sweep.csv", build_rows(jobs, summaries))
    (result,) = window_results(tmp_path)
    assert result["best_arm"] == "breakout:60" and result["median_arm"] == pytest.approx(0.025)
    assert [result["regret"][q] for q in QUARTERS] == pytest.approx([0.01, 0.02, 0.03, 0.025])
    assert result["arm_halves"]["breakout:60"] == pytest.approx((0.03, 1.05 / 1.03 - 1))
    assert result["fees_per_30d"] == pytest.approx(3.0 / 1000)  # no database: 1000 USDT assumed
    assert "regret at 100% <= 1.5 x regret at 50% (or none): 1 of 1" in "\n".join(targets([result]))


def test_persistence_ranks_the_arms_first_half_of_a_window_against_their_second() -> None:
    kept = {"arm_halves": {"a": (0.01, 0.02), "b": (0.0, 0.0), "c": (-0.01, -0.03)}}
    turned = {"arm_halves": {"a": (0.01, -0.03), "b": (0.0, 0.0), "c": (-0.01, 0.02)}}
    # All tie in the first half: no correlation; the leader (by name) is at the median.
    tied = {"arm_halves": {"a": (0.0, 0.01), "b": (0.0, 0.0), "c": (0.0, 0.0)}}
    too_few = {"arm_halves": {"a": (0.01, 0.01), "b": (0.0, 0.0)}}
    correlation, hits, windows = persistence([kept, turned, tied, too_few])
    assert correlation == pytest.approx(0.0)  # +1 and -1
    assert (hits, windows) == (2, 3)
