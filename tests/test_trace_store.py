"""The compact trace store: spans read back as the SDK recorded them, generation inputs are
stored once, and retention prunes traces (never the audit trail) on demand and in the loop."""

from __future__ import annotations

import gzip
import io
import sqlite3
from contextlib import redirect_stderr, redirect_stdout
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from agents import custom_span, generation_span, trace
from agents.tracing import set_trace_processors

from autotrader.cli import main
from autotrader.db import Database
from autotrader.db.models import TraceRecord
from autotrader.db.retention import DailyPrune, prune_traces
from autotrader.db.traces import LocalTraceStore
from autotrader.research import queries

DAY = datetime(2025, 9, 29, tzinfo=UTC)
MAIN_V4 = Path(__file__).parent / "data" / "main_f6a2be8_v4.db.gz"
AUDIT = ("decisions", "orders", "trades", "portfolio", "experiments", "posteriors", "cycles")


def _rows(path: Path, query: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as raw:
        return raw.execute(query).fetchall()


def _record(db: Database, trace_id: str, cycle_ts: datetime, prompt: str) -> None:
    """One trace as the loop makes it: an outer span, two turns resending the same prompt."""
    store = LocalTraceStore(db)
    set_trace_processors([store])
    try:
        metadata = {"cycle_ts": cycle_ts.isoformat()}
        with (
            trace("autotrader cycle", trace_id=trace_id, metadata=metadata),
            custom_span("planner model call", {"role": "PLANNER"}),
        ):
            for turn in range(2):
                messages = [{"role": "system", "content": prompt}]
                messages += [{"role": "user", "content": f"turn {n}"} for n in range(turn + 1)]
                with generation_span(input=messages, output=[{"turn": turn}], model="m"):
                    pass
    finally:
        set_trace_processors([])


def test_a_stored_trace_reads_back_with_its_tree_timings_and_inputs(db: Database) -> None:
    _record(db, "trace_" + "a" * 32, DAY, "be careful")
    view = queries.trace_view(db, "trace_" + "a" * 32)
    outer, first, second = view.nodes
    assert (outer.depth, outer.span.kind, outer.span.name) == (0, "custom", "planner model call")
    assert [n.depth for n in (first, second)] == [1, 1]
    assert first.span.parent_id == outer.span.span_id
    assert first.data["type"] == "generation" and first.data["output"] == [{"turn": 0}]
    assert [m["content"] for m in second.data["input"]] == ["be careful", "turn 0", "turn 1"]
    assert outer.duration_ms is not None and first.offset_ms is not None
    assert 0 <= first.offset_ms <= outer.duration_ms


def test_generation_input_items_are_stored_once_across_turns_and_traces(db: Database) -> None:
    for n in range(3):
        _record(db, f"trace_{n:032x}", DAY + timedelta(minutes=5 * n), "the same long prompt")
    # system prompt + "turn 0" + "turn 1": three distinct items for 6 generations of 2-3 items.
    assert _rows(db.path, "SELECT count(*) FROM span_inputs") == [(3,)]


def test_prune_deletes_old_traces_and_their_unused_inputs_only(db: Database) -> None:
    _record(db, f"trace_{1:032x}", DAY, "old prompt")
    _record(db, f"trace_{2:032x}", DAY + timedelta(days=40), "new prompt")
    pruned = prune_traces(db, DAY + timedelta(days=10))
    assert (pruned.traces, pruned.inputs) == (1, 1)  # the old prompt; "turn n" items still used
    assert _rows(db.path, "SELECT trace_id FROM traces") == [(f"trace_{2:032x}",)]
    view = queries.trace_view(db, f"trace_{2:032x}")
    assert view.nodes[-1].data["input"][0]["content"] == "new prompt"


def test_prune_on_demand_keeps_the_audit_trail_whole(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    path.write_bytes(gzip.decompress(MAIN_V4.read_bytes()))  # spans as rows (before version 11)
    Database.open(path).close()
    audit = {table: _rows(path, f"SELECT * FROM {table}") for table in AUDIT}
    assert _rows(path, "SELECT count(*) FROM spans")[0][0] > 0
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["prune", "--days", "0", "--db", str(path)]) == 0
        assert main(["prune", "--days", "1", "--db", str(path)]) == 0
    assert "kept forever" in out.getvalue() and "pruned" in out.getvalue()
    assert {table: _rows(path, f"SELECT * FROM {table}") for table in AUDIT} == audit
    newest = _rows(path, "SELECT max(cycle_ts) FROM traces")[0][0]
    oldest = _rows(path, "SELECT min(cycle_ts) FROM traces")[0][0]
    assert datetime.fromisoformat(newest) - datetime.fromisoformat(oldest) <= timedelta(days=1)
    assert _rows(
        path, "SELECT count(*) FROM spans WHERE trace_id NOT IN (SELECT trace_id FROM traces)"
    ) == [(0,)]


def test_a_trace_stored_before_compact_spans_still_reads(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    path.write_bytes(gzip.decompress(MAIN_V4.read_bytes()))
    db = Database.open(path)
    trace_id = _rows(path, "SELECT trace_id FROM spans LIMIT 1")[0][0]
    kinds = {node.span.kind for node in queries.trace_view(db, trace_id).nodes}
    assert {"agent", "generation", "handoff"} <= kinds
    with db.session() as session:
        assert session.get(TraceRecord, trace_id) is not None
    db.close()


def test_prune_names_a_missing_database(tmp_path: Path) -> None:
    err = io.StringIO()
    with redirect_stderr(err):
        assert main(["prune", "--db", str(tmp_path / "none.db")]) == 2
    assert "no database at" in err.getvalue()


def test_the_loops_prune_runs_at_most_once_a_day_of_its_clock(db: Database) -> None:
    for day in range(4):
        _record(db, f"trace_{day:032x}", DAY + timedelta(days=day), "prompt")
    daily = DailyPrune(db, days=1)
    first = daily.maybe(DAY + timedelta(days=3))
    assert first is not None and first.traces == 2
    assert daily.maybe(DAY + timedelta(days=3, hours=23)) is None
    later = daily.maybe(DAY + timedelta(days=4))
    assert later is not None and later.traces == 1
    assert DailyPrune(db, days=0).maybe(DAY + timedelta(days=99)) is None  # 0: kept forever
