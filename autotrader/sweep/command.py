"""`runner.py sweep SPEC`: load and plan the sweep, run it on the chosen backend, print the
summary tables. Exit 0 when every job is done, 1 when some failed (each is in sweep.csv with its
error), 130 when interrupted (the same command resumes it); a bad spec is one line, exit 2.
"""

from __future__ import annotations

from pathlib import Path

from rich.text import Text

from autotrader.sweep.backends import choose_backend
from autotrader.sweep.plan import data_dir, plan_jobs
from autotrader.sweep.report import print_summary, sweep_console
from autotrader.sweep.results import RESULTS_FILE
from autotrader.sweep.run import execute
from autotrader.sweep.spec import load_spec


def sweep_command(
    spec_path: Path, out: str | None, data: str | None, workers: int | None, *, use_ray: bool
) -> int:
    console = sweep_console()
    spec = load_spec(spec_path)
    folder = Path(out) if out else Path(f"sweep_{spec.name}")
    jobs = plan_jobs(spec, spec_path, data_dir(data), folder)
    backend = choose_backend(use_ray, workers)
    try:
        outcome = execute(jobs, backend, folder, console)
    finally:
        backend.close()
    if outcome.interrupted:
        console.print(Text(f"interrupted; run the same command again to resume ({spec_path})"))
        return 130
    print_summary(outcome.rows, console)
    console.print(
        Text(
            f"{outcome.ran} jobs run in {outcome.wall_secs:.1f} s ({outcome.cycles_run:,} cycles, "
            f"{outcome.cycles_per_sec:.1f} cycles/s), {outcome.skipped} already finished, "
            f"{outcome.failed} failed; results in {folder / RESULTS_FILE}"
        )
    )
    return 1 if outcome.failed else 0
