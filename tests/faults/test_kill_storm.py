"""The kill storm (make test-faults): a real 72 h replay SIGKILLed at least 30 times at every
stage of a cycle and restarted until it finishes ends exactly as the uninterrupted run; a kill
mid-migration loses no row; a kill inside boot reconciliation is repaired at the next start,
idempotently."""

from __future__ import annotations

import gzip
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

from autotrader.db.migrations import LATEST_VERSION, MIGRATIONS
from tests.crash_harness import Invariants, Outcome, invariants, killed, run_cli
from tests.faults.checks import OrderTruth, lost_fills, order_truth, rows
from tests.faults.conftest import Figures
from tests.faults.kill_storm import SPAN, STAGES, KillStorm, kill_storm, paper_fills

pytestmark = pytest.mark.faults

SEED = 11
MIN_KILLS = 30
TABLE = f"kill storm: runner.py {' '.join(SPAN)} (seed {SEED})"


class Storm:
    """The storm's database beside the uninterrupted run's."""

    def __init__(self, storm: KillStorm, db: Path, reference: Path) -> None:
        self.storm = storm
        self.db = db
        self.outcome = Outcome.of(db)
        self.reference = Outcome.of(reference)
        self.invariants: Invariants = invariants(db)
        self.orders: OrderTruth = order_truth(db, paper_fills(db))
        self.lost_after_restart = len(lost_fills(db, paper_fills(db)))

    @property
    def trade_divergence(self) -> int:
        """Trades in one run and not the other."""
        ours, theirs = self.outcome.trades, self.reference.trades
        return len([t for t in ours if t not in theirs]) + len([t for t in theirs if t not in ours])

    @property
    def equity_divergence(self) -> Decimal:
        return abs(self.outcome.equity - self.reference.equity)


@pytest.fixture(scope="module")
def storm(tmp_path_factory: pytest.TempPathFactory, figures: Figures) -> Storm:
    folder = tmp_path_factory.mktemp("kills")
    straight = run_cli(folder / "straight.db", SPAN)
    assert straight.returncode == 0, straight.stderr
    storm = kill_storm(folder / "killed.db", SEED)
    result = Storm(storm, folder / "killed.db", folder / "straight.db")
    record(figures, result)
    return result


def record(figures: Figures, result: Storm) -> None:
    storm, ledger = result.storm, result.invariants

    def add(measure: str, value: object, target: str = "") -> None:
        figures.add(TABLE, measure, value, target)

    add("wall seconds (the storm)", f"{storm.seconds:.1f}")
    add("kills (SIGKILL at a failpoint)", sum(storm.kills.values()), f">= {MIN_KILLS}")
    for stage in STAGES:
        add(f"  at {stage}", storm.kills[stage], ">= 1")
    add("restarts", storm.restarts)
    add("cycles, trades (uninterrupted run)", cycles_and_trades(result.reference))
    add("cycles, trades (killed run)", cycles_and_trades(result.outcome))
    figures.promises(
        TABLE,
        ledger,
        duplicates=ledger.duplicate_orders,
        lost=(storm.lost_while_running, result.lost_after_restart),
        contradicting_venue=result.orders.contradicting,
    )
    add("divergence from the uninterrupted run: trades", result.trade_divergence, "0")
    add("divergence: final equity (USDT)", f"{result.equity_divergence:f}", "0")
    add("same cycles and experiments as uninterrupted", str(same_run(result)), "True")


def cycles_and_trades(outcome: Outcome) -> str:
    return f"{len(outcome.cycles)}, {len(outcome.trades)}"


def same_run(result: Storm) -> bool:
    ours, theirs = result.outcome, result.reference
    return (ours.cycles, ours.experiments) == (theirs.cycles, theirs.experiments)


def test_the_replay_is_killed_thirty_times_over_every_stage(storm: Storm) -> None:
    assert sum(storm.storm.kills.values()) >= MIN_KILLS
    assert set(storm.storm.kills) == set(STAGES)


def test_the_killed_replay_ends_identical_to_the_uninterrupted_one(storm: Storm) -> None:
    assert (storm.trade_divergence, storm.equity_divergence) == (0, Decimal(0))
    assert storm.outcome == storm.reference  # trades, experiments, cycles and equity


def test_no_order_is_duplicated_lost_or_untrue_after_the_storm(storm: Storm) -> None:
    assert storm.invariants.problems() == {}
    assert (storm.storm.lost_while_running, storm.lost_after_restart) == (0, 0)
    assert storm.orders == OrderTruth(contradicting=0, unresolved=0)


# --- a kill mid-migration ---

MAIN_V4 = Path(__file__).parent.parent / "data" / "main_f6a2be8_v4.db.gz"
KEYS = {  # each table a schema-4 database has, and its key
    "decisions": "id",
    "trades": "id",
    "portfolio": "id",
    "memory": "id",
    "orders": "id",
    "paper_fills": "id",
    "experiments": "id",
    "traces": "trace_id",
    "spans": "span_id",
    "runs": "run_id",
    "cycles": "id",
}


def keys(db: Path) -> dict[str, set[object]]:
    return {
        table: {k for (k,) in rows(db, f"SELECT {key} FROM {table}")} for table, key in KEYS.items()
    }


def version(db: Path) -> int:
    with sqlite3.connect(db) as raw:
        return int(raw.execute("PRAGMA user_version").fetchone()[0])


def test_a_kill_mid_migration_leaves_the_last_whole_version_and_loses_no_row(
    tmp_path: Path, figures: Figures
) -> None:
    db = tmp_path / "main_v4.db"
    db.write_bytes(gzip.decompress(MAIN_V4.read_bytes()))
    before = keys(db)
    statements = [len(steps) for _, steps in MIGRATIONS]
    # Kill inside step 5 (its 20th statement), then inside step 6 (the 30th statement from
    # version 4: step 5 commits first), then inside step 6 again, from version 5.
    kills = ((20, 4), (statements[4] + 2, 5), (5, 5))
    for nth, left_at in kills:
        assert killed(run_cli(db, ["--hours", "1"], failpoint=f"migration:{nth}"))
        assert version(db) == left_at
    clean = run_cli(db, ["--hours", "1"])
    assert clean.returncode == 0, clean.stderr
    assert version(db) == LATEST_VERSION
    after = keys(db)
    kept = sum(len(before[table] & after[table]) for table in KEYS)
    table = f"kills mid-migration (schema 4 -> {LATEST_VERSION})"
    figures.add(table, "kills at migration:N", ", ".join(str(nth) for nth, _ in kills))
    figures.add(table, "rows of the schema-4 database kept", kept, f"{count(before)} (all)")
    assert kept == count(before)


def count(keyed: dict[str, set[object]]) -> int:
    return sum(len(k) for k in keyed.values())


# --- a kill inside boot reconciliation ---

HALF_DAY = ["--from", "2025-09-29", "--hours", "12"]  # 48 cycles, 6 trades
RECONCILED = "reconciled with the venue"


def test_a_kill_inside_reconciliation_is_repaired_at_the_next_start_idempotently(
    tmp_path: Path, figures: Figures
) -> None:
    reference = tmp_path / "straight.db"
    assert run_cli(reference, HALF_DAY).returncode == 0
    db = tmp_path / "killed.db"
    assert killed(run_cli(db, HALF_DAY, failpoint="closed:40"))
    filled = [
        cid for (cid,) in rows(db, "SELECT client_order_id FROM orders WHERE status = 'FILLED'")
    ]
    assert len(filled) >= 3
    with sqlite3.connect(db) as raw:  # three disagreements for reconciliation to repair
        raw.execute("UPDATE orders SET status = 'REJECTED' WHERE client_order_id = ?", filled[0:1])
        raw.execute("DELETE FROM trades WHERE client_order_id = ?", filled[1:2])
        raw.execute("DELETE FROM trades WHERE client_order_id = ?", filled[2:3])
        raw.execute("UPDATE orders SET status = 'UNKNOWN' WHERE client_order_id = ?", filled[2:3])
    assert killed(run_cli(db, HALF_DAY, failpoint="reconcile:1"))  # after its first repair
    left_by_the_kill = disagreements(db)
    repaired = run_cli(db, HALF_DAY, failpoint="closed:1")
    assert killed(repaired)
    assert RECONCILED in repaired.stdout
    left = disagreements(db)
    third = run_cli(db, HALF_DAY)
    assert third.returncode == 0, third.stderr
    table = "kill inside boot reconciliation (3 disagreements planted)"
    figures.add(table, "left after the kill at reconcile:1", left_by_the_kill, "> 0")
    figures.add(table, "left after the next start", left, "0")
    figures.add(table, "repairs reported by a third start", int(RECONCILED in third.stdout), "0")
    assert left_by_the_kill > 0
    assert left == 0
    assert RECONCILED not in third.stdout  # nothing left to repair: idempotent
    assert Outcome.of(db) == Outcome.of(reference)


def disagreements(db: Path) -> int:
    """Order rows, trades and the paper venue's fills that disagree."""
    truth = order_truth(db, paper_fills(db))
    ledger = invariants(db)
    return ledger.lying_orders + len(lost_fills(db, paper_fills(db))) + truth.contradicting
