"""The one read layer the dashboard, `report` and the inspection commands share: what it reads
matches the tables, its pages are bounded, its filters and trace ids behave, and the read-only
handle can never write."""

from __future__ import annotations

import hashlib
import sqlite3
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from autotrader.db import Database
from autotrader.db.models import MemoryEntry, TraceRecord
from autotrader.db.readonly import open_readonly
from autotrader.errors import ConfigError
from autotrader.research import queries
from autotrader.research.queries import CycleFilter


def _rows(path: Path, query: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as raw:
        return raw.execute(query).fetchall()


@pytest.fixture
def reader(replay_db: Path) -> Database:
    return open_readonly(replay_db)


def test_runs_count_what_the_tables_hold(reader: Database, replay_db: Path) -> None:
    (overview,) = queries.runs(reader)
    assert overview.cycles == _rows(replay_db, "SELECT count(*) FROM cycles")[0][0]
    assert overview.trades == _rows(replay_db, "SELECT count(*) FROM trades")[0][0]
    errors = _rows(replay_db, "SELECT count(*) FROM cycles WHERE status = 'ERROR'")[0][0]
    assert overview.error_cycles == errors
    last_equity = _rows(replay_db, "SELECT equity FROM portfolio ORDER BY id DESC LIMIT 1")[0][0]
    assert overview.last is not None and overview.last.equity == Decimal(last_equity)
    assert queries.run_state(overview, datetime.now(UTC)) == "finished"


def test_an_unknown_run_is_one_line_naming_the_command_that_lists_them(reader: Database) -> None:
    with pytest.raises(queries.NotFound, match=r"no run 'run_nope' .*runner.py runs"):
        queries.run_overview(reader, "run_nope")


def test_a_page_never_holds_more_than_the_limit(reader: Database) -> None:
    run_id = queries.runs(reader)[0].run.run_id
    page = queries.cycles_page(reader, run_id, None, limit=10_000)
    assert page.limit == queries.MAX_LIMIT
    assert len(page.items) == min(page.total, queries.MAX_LIMIT)
    assert len(queries.cycles_page(reader, run_id, None, limit=3).items) == 3


def test_the_executed_filter_finds_exactly_the_cycles_with_a_fill(
    reader: Database, replay_db: Path
) -> None:
    run_id = queries.runs(reader)[0].run.run_id
    page = queries.cycles_page(reader, run_id, CycleFilter.parse(["executed"]), limit=500)
    expected = _rows(replay_db, "SELECT trace_id FROM cycles WHERE executed = 1")
    assert {d.cycle.trace_id for d in page.items} == {t for (t,) in expected}
    assert all(d.fills and d.experiment is not None for d in page.items)
    assert all(set(d.decisions) == {"PLANNER", "TRADER", "JUDGE"} for d in page.items)


def test_filters_combine_and_read_back_as_query_parameters() -> None:
    where = CycleFilter.parse(["action=buy,verdict=APPROVE", "explore=no"])
    assert where == CycleFilter(action="BUY", verdict="APPROVE", explore=False)
    assert CycleFilter.of(where.as_params()) == where


@pytest.mark.parametrize(
    ("term", "message"),
    [
        ("colour=red", "unknown filter 'colour'"),
        ("action=SHORT", "use one of BUY, SELL, HOLD"),
        ("executed=maybe", "use executed=yes or executed=no"),
    ],
)
def test_a_bad_filter_says_what_is_allowed(term: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        CycleFilter.parse([term])


def test_a_short_trace_id_resolves_to_its_cycle(reader: Database, replay_db: Path) -> None:
    (full,) = _rows(replay_db, "SELECT trace_id FROM cycles ORDER BY id LIMIT 1")[0]
    short = queries.short_trace(full)
    assert len(short) == queries.SHORT_TRACE and full.startswith("trace_" + short)
    assert queries.resolve_trace(reader, short) == full
    assert queries.resolve_trace(reader, "trace_" + short) == full
    with pytest.raises(queries.NotFound, match="no trace 'zz'"):
        queries.resolve_trace(reader, "zz")


def test_a_prefix_two_traces_share_is_called_ambiguous(tmp_path: Path) -> None:
    writer = Database.open(tmp_path / "two.db")
    for tail in ("aaaa1111", "aaaa2222"):
        row = {"trace_id": f"trace_{tail}", "workflow_name": "w", "metadata_json": "{}"}
        writer.append_values((TraceRecord, row))
    reader = open_readonly(tmp_path / "two.db")
    with pytest.raises(queries.NotFound, match="ambiguous"):
        queries.resolve_trace(reader, "aaaa")
    assert queries.resolve_trace(reader, "aaaa2") == "trace_aaaa2222"
    writer.close()


def test_a_trace_reads_as_a_tree_parents_before_children(reader: Database) -> None:
    page = queries.cycles_page(reader, queries.runs(reader)[0].run.run_id, None, limit=1)
    view = queries.trace_view(reader, page.items[0].cycle.trace_id)
    seen: dict[str, int] = {}
    for node in view.nodes:
        parent = node.span.parent_id
        assert node.depth == (seen[parent] + 1 if parent in seen else 0)
        seen[node.span.span_id] = node.depth
    kinds = {node.span.kind for node in view.nodes}
    assert {"agent", "generation", "function", "handoff", "guardrail"} <= kinds
    assert all(n.duration_ms is not None and n.duration_ms >= 0 for n in view.nodes)


def test_round_trips_add_up_to_the_ledgers_realized_pnl(reader: Database, replay_db: Path) -> None:
    overview = queries.runs(reader)[0]
    trips = queries.trips(queries.trades(reader, overview.run.run_id))
    realized = _rows(replay_db, "SELECT realized_pnl_usdt FROM portfolio ORDER BY id DESC LIMIT 1")
    closed = [t for t in trips if t.closed is not None]
    assert closed and sum((t.pnl for t in closed), Decimal(0)) == Decimal(realized[0][0])


def test_the_reader_cannot_write(reader: Database) -> None:
    with pytest.raises(Exception, match=r"readonly|read-only"), reader.session() as session:
        session.add(MemoryEntry(ts_utc=datetime.now(UTC), key="x", value_json="1"))


def test_reading_everything_leaves_the_file_as_it_was(replay_db: Path) -> None:
    before = hashlib.sha256(replay_db.read_bytes()).hexdigest()
    db = open_readonly(replay_db)
    overview = queries.run_overview(db, None)
    queries.marks(db, overview.run)
    queries.cycles_page(db, overview.run.run_id, None, limit=500)
    db.close()
    assert hashlib.sha256(replay_db.read_bytes()).hexdigest() == before


def test_a_reader_sees_what_a_live_writer_commits(tmp_path: Path) -> None:
    writer = Database.open(tmp_path / "live.db")  # WAL, held open as the agent holds it
    reader = open_readonly(tmp_path / "live.db")
    assert queries.runs(reader) == []
    writer.append_values(
        (
            MemoryEntry,
            {"ts_utc": datetime.now(UTC), "key": "weekly_evaluation:s", "value_json": "1"},
        )
    )
    assert queries.notes(reader, "weekly_evaluation:s")[0][1] == 1
    writer.close()


def test_a_reader_refuses_a_database_the_writer_has_not_upgraded(tmp_path: Path) -> None:
    old = Database.open(tmp_path / "old.db", target_version=2)
    old.close()
    with pytest.raises(ConfigError, match="run the agent on it once"):
        open_readonly(tmp_path / "old.db")


def test_a_reader_names_a_missing_database(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no database at"):
        open_readonly(tmp_path / "absent.db")


def test_arm_counts_count_explorations_and_measurements(reader: Database, replay_db: Path) -> None:
    overview = queries.runs(reader)[0]
    counts = queries.arm_counts(reader, overview.run.scope)
    expected = _rows(
        replay_db,
        "SELECT arm, count(*), sum(explore), count(reward) FROM experiments GROUP BY arm",
    )
    assert {(c.arm, c.experiments, c.explored, c.measured) for c in counts.values()} == set(
        expected
    )
