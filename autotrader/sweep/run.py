"""Running a sweep: finished jobs (those with a summary file) are skipped, the rest go to the
backend; a progress bar shows jobs done, running and failed and the ETA; each failure is printed
with its error as it happens; at the end every job's row goes to sweep.csv in the output folder.
Ctrl-C stops the running replays after their cycle; the same command resumes the sweep.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from autotrader.sweep.backends import Backend
from autotrader.sweep.plan import Job
from autotrader.sweep.results import RESULTS_FILE, Row, build_rows, write_rows


@dataclass(frozen=True)
class SweepOutcome:
    rows: list[Row]
    skipped: int  # finished by an earlier run
    ran: int
    failed: int
    interrupted: bool
    wall_secs: float
    cycles_run: int  # cycles replayed by the jobs run now

    @property
    def cycles_per_sec(self) -> float:
        return self.cycles_run / self.wall_secs if self.wall_secs > 0 else 0.0


def finished_summaries(jobs: Sequence[Job]) -> dict[str, dict[str, Any]]:
    done = {}
    for job in jobs:
        try:
            done[job.job_id] = json.loads(job.result_path.read_text())
        except (OSError, ValueError):
            continue  # not finished (or a half-written file, which never happens: replace())
    return done


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("[bold]sweep[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("running {task.fields[running]}  failed {task.fields[failed]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
    )


def execute(jobs: Sequence[Job], backend: Backend, out: Path, console: Console) -> SweepOutcome:
    out.mkdir(parents=True, exist_ok=True)
    summaries = finished_summaries(jobs)
    todo = [job for job in jobs if job.job_id not in summaries]
    skipped = len(jobs) - len(todo)
    console.print(
        Text(
            f"sweep: {len(jobs)} jobs, {skipped} already finished, {len(todo)} to run on "
            f"{backend.name} ({backend.workers} workers); output in {out}"
        )
    )
    began = time.perf_counter()
    failed = cycles = 0
    interrupted = False
    with _progress(console) as progress:
        task = progress.add_task("sweep", total=len(todo), running=0, failed=0)
        progress.update(task, running=min(backend.workers, len(todo)))
        try:
            for done, (job, summary) in enumerate(backend.run(todo), start=1):
                summaries[job.job_id] = summary
                if "error" in summary:
                    failed += 1
                    progress.console.print(
                        Text(f"failed {job.job_id} ({job.window}, {job.config}, "
                             f"{job.planner}, seed {job.seed}): {summary['error']}", style="red")
                    )  # fmt: skip
                else:
                    cycles += int(summary.get("cycles", 0))
                left = len(todo) - done
                progress.update(
                    task, completed=done, running=min(backend.workers, left), failed=failed
                )
        except KeyboardInterrupt:
            interrupted = True
            progress.console.print(
                Text("interrupted: stopping the running replays after their cycle", style="yellow")
            )
            backend.stop()
    wall = time.perf_counter() - began
    rows = build_rows(jobs, summaries)
    write_rows(out / RESULTS_FILE, rows)
    ran = sum(1 for job in todo if job.job_id in summaries)
    return SweepOutcome(rows, skipped, ran, failed, interrupted, wall, cycles)
