"""The kill storm: a real `runner.py` replay SIGKILLed again and again at failpoints spread over
every stage of a cycle (stage and count drawn from a seeded generator), restarted each time
until it finishes. What it leaves is compared with an uninterrupted run of the same replay by
the caller; here, what each kill left behind is checked against the paper venue's fills.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from time import perf_counter

from tests.crash_harness import killed, run_cli
from tests.faults.checks import lost_fills, rows

SPAN = ["--from", "2025-09-29", "--hours", "72"]  # 300 cycles, 27 trades
# A cycle's failpoints and how many times each may be reached before it fires: order stages
# come about once in eleven cycles, the others every cycle, so a kill advances ~8 cycles.
STAGES: dict[str, tuple[int, int]] = {
    "decided": (1, 1),
    "sent": (1, 1),
    "filled": (1, 1),
    "closing": (1, 8),
    "closed": (1, 8),
}
MAX_RUNS = 200  # a storm that has not finished by then never will


@dataclass
class KillStorm:
    kills: Counter[str] = field(default_factory=Counter)
    runs: int = 0
    lost_while_running: int = 0  # paper fills unbooked although their cycle had finished
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def restarts(self) -> int:
        return self.runs - 1


def paper_fills(db: Path) -> list[str]:
    return [cid for (cid,) in rows(db, "SELECT client_order_id FROM paper_fills")]


def kill_storm(db: Path, seed: int, span: list[str] = SPAN) -> KillStorm:
    """Kill and restart the replay until a run finishes (exit 0)."""
    storm = KillStorm()
    chooser = random.Random(seed)
    started = perf_counter()
    while storm.runs < MAX_RUNS:
        stage = chooser.choice(sorted(STAGES))
        nth = chooser.randint(*STAGES[stage])
        result = run_cli(db, span, failpoint=f"{stage}:{nth}")
        storm.runs += 1
        if not killed(result):
            if result.returncode != 0:
                raise AssertionError(f"a restart failed: {result.stderr[-2000:]}")
            break
        storm.kills[stage] += 1
        lost = lost_fills(db, paper_fills(db))
        storm.lost_while_running += len(lost)
        storm.notes.extend(f"after {stage}:{nth}: lost {line}" for line in lost)
    storm.seconds = perf_counter() - started
    return storm
