"""`make bench`, part 3: the sweep's speed, measured side by side in one run.

- Throughput: the same 4 replays (the agent under 4 seeds, 2 days of the bundled 5m candles
  each) with 1 worker and with 2, in cycles per second of wall time (workers started and warm
  before the clock starts). Target: 2 workers >= 1.7x one worker on this 2-core machine.
- Per-job overhead of the Ray backend against the process pool: 8 one-hour replays on each,
  2 workers; overhead = (wall x workers - the jobs' own time) / jobs, the time a worker slot
  spends on a job outside the job itself (scheduling, transport, result handling).
"""

from __future__ import annotations

import io
import os
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from autotrader.sweep.backends import Backend, ProcessPool, RayTasks
from autotrader.sweep.plan import data_dir, plan_jobs
from autotrader.sweep.run import SweepOutcome, execute
from autotrader.sweep.spec import load_spec

SPEC = """
name = "{name}"
seeds = {seeds}
baselines = []
[[data]]
file = "binance_BTCUSDT_5m_2025-09-06_2025-10-06.csv.gz"
symbol = "BTC/USDT"
timeframes = ["5m"]
windows = [{{ from = "2025-09-12", until = "{until}" }}]
"""
TARGET_SPEEDUP = 1.7


def _sweep(folder: Path, backend: Backend, seeds: list[int], until: str) -> SweepOutcome:
    folder.mkdir(parents=True)
    spec = folder / "spec.toml"
    spec.write_text(SPEC.format(name=folder.name, seeds=seeds, until=until))
    jobs = plan_jobs(load_spec(spec), spec, data_dir(None), folder / "out")
    return execute(jobs, backend, folder / "out", Console(file=io.StringIO()))


def _cpu(outcome: SweepOutcome) -> float:
    return sum(float(row["cpu_secs"] or 0) for row in outcome.rows)


def _cpu_share(outcome: SweepOutcome, workers: int) -> float:
    """The jobs' CPU time over the workers' wall time: 100% when each worker had a core to
    itself; less when other processes on the machine took their share. Cycles per CPU-second
    equal for 1 and 2 workers means the workers do not slow each other down."""
    return _cpu(outcome) / (outcome.wall_secs * workers) if outcome.wall_secs else 0.0


def _overhead(outcome: SweepOutcome, workers: int) -> float:
    inside = sum(float(row["wall_secs"] or 0) for row in outcome.rows)
    return (outcome.wall_secs * workers - inside) / len(outcome.rows)


def main() -> None:
    console = Console()
    throughput: dict[int, SweepOutcome] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for workers in (1, 2):
            pool = ProcessPool(workers)
            pool.warm_up()
            folder = Path(tmp) / f"pool{workers}"
            throughput[workers] = _sweep(folder, pool, [1, 2, 3, 4], "2025-09-14")
            pool.close()
        pool = ProcessPool(2)
        pool.warm_up()
        pooled = _sweep(Path(tmp) / "overhead-pool", pool, list(range(1, 9)), "2025-09-12T01:00")
        pool.close()
        ray_note = "ray not installed: pip install -e '.[ray]' (make bench installs it)"
        rayed: SweepOutcome | None = None
        ray_start = 0.0
        try:
            began = time.perf_counter()
            ray = RayTasks(2)
            ray_start = time.perf_counter() - began
            _sweep(Path(tmp) / "ray-warm-up", ray, [1, 2], "2025-09-12T01:00")  # workers up
            rayed = _sweep(Path(tmp) / "overhead-ray", ray, list(range(1, 9)), "2025-09-12T01:00")
            ray.close()
        except Exception as error:
            ray_note = f"ray: {type(error).__name__}: {error}"[:200]

    one, two = throughput[1], throughput[2]
    speedup = two.cycles_per_sec / one.cycles_per_sec if one.cycles_per_sec else 0.0
    table = Table(title="make bench: sweep throughput (4 replays x 2 days, bundled 5m candles)")
    headings = ("workers", "jobs", "cycles", "wall (s)", "cycles/s", "vs 1 worker", "target",
                "CPU share per worker", "cycles per CPU-s")  # fmt: skip
    for heading in headings:
        table.add_column(heading, justify="right")
    verdict = "met" if speedup >= TARGET_SPEEDUP else "NOT met"
    for workers, outcome in throughput.items():
        table.add_row(
            str(workers),
            str(len(outcome.rows)),
            f"{outcome.cycles_run:,}",
            f"{outcome.wall_secs:.1f}",
            f"{outcome.cycles_per_sec:.1f}",
            "1.00x" if workers == 1 else f"{speedup:.2f}x",
            "" if workers == 1 else f">= {TARGET_SPEEDUP}x: {verdict}",
            f"{_cpu_share(outcome, workers):.0%}",
            f"{outcome.cycles_run / max(1e-9, _cpu(outcome)):.1f}",
        )
    console.print(table)
    console.print(
        f"load average when done: {', '.join(f'{x:.1f}' for x in os.getloadavg())} on "
        f"{os.cpu_count()} cores (a CPU share under 100% means other processes took the rest)"
    )
    overhead = Table(title="per-job overhead, 8 one-hour replays on 2 workers")
    for heading in ("backend", "wall (s)", "per job (s)", "overhead per job (ms)", "start (s)"):
        overhead.add_column(heading, justify="left" if heading == "backend" else "right")
    measured: list[tuple[str, SweepOutcome | None, str]] = [
        ("process pool", pooled, "- (warm)"),
        ("ray (local)", rayed, f"{ray_start:.1f} (ray.init)"),
    ]
    for name, result, start in measured:
        if result is None:
            overhead.add_row(name, "-", "-", Text(ray_note), "-")  # text, not markup
            continue
        overhead.add_row(
            name,
            f"{result.wall_secs:.2f}",
            f"{result.wall_secs * 2 / len(result.rows):.2f}",
            f"{1000 * _overhead(result, 2):.0f}",
            start,
        )
    console.print(overhead)
    if rayed is not None:
        extra = _overhead(rayed, 2) - _overhead(pooled, 2)
        console.print(f"Ray costs {1000 * extra:+.0f} ms per job more than the process pool.")


if __name__ == "__main__":
    main()
