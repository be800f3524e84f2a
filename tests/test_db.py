"""The audit trail: WAL SQLite, exact Decimals, UTC times, in-place upgrades (from v1, from a
database main wrote, from the seed's DDL), and files that are not ours left untouched."""

from __future__ import annotations

import gzip
import hashlib
import json
import sqlite3
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import inspect, text
from sqlmodel import SQLModel, select

from autotrader.db import Database, execute_rows, execute_write
from autotrader.db.migrations import LATEST_VERSION, MIGRATIONS, SEED_DDL
from autotrader.db.models import Trade
from autotrader.errors import ConfigError
from autotrader.research.store import ARMS_OF_SCOPE, UPSERT_ARM
from autotrader.tools.ledger import log_trade

NOW = datetime(2025, 9, 6, 12, 0, tzinfo=UTC)


def test_database_runs_in_wal_mode_with_safe_pragmas(db: Database) -> None:
    with db.engine.connect() as connection:
        pragma = {
            name: connection.execute(text(f"PRAGMA {name}")).scalar()
            for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
        }
    assert pragma["journal_mode"] == "wal"
    assert pragma["synchronous"] == 1  # NORMAL
    assert pragma["foreign_keys"] == 1
    assert (pragma["busy_timeout"] or 0) >= 1000


def test_new_database_is_at_the_latest_schema_version(db: Database) -> None:
    with db.engine.connect() as connection:
        assert connection.execute(text("PRAGMA user_version")).scalar() == LATEST_VERSION


def test_migrated_schema_matches_the_sqlmodel_tables(db: Database) -> None:
    inspector = inspect(db.engine)
    for table in SQLModel.metadata.sorted_tables:
        in_db = {column["name"] for column in inspector.get_columns(table.name)}
        assert in_db == set(table.columns.keys()), table.name
        unique_in_db = {
            tuple(index["column_names"])
            for index in inspector.get_unique_constraints(table.name)
            + [i for i in inspector.get_indexes(table.name) if i["unique"]]
        }
        for column in table.columns:
            if column.unique:
                assert (column.name,) in unique_in_db, f"{table.name}.{column.name}"


@settings(max_examples=200, deadline=None)
@given(
    amount=st.decimals(allow_nan=False, allow_infinity=False, min_value=0, max_value=10**12)
    | st.decimals(allow_nan=False, allow_infinity=False, places=8, min_value=0, max_value=10**6)
)
def test_decimal_amounts_round_trip_exactly(
    tmp_path_factory: pytest.TempPathFactory, amount: Decimal
) -> None:
    database = _shared_db(tmp_path_factory)
    key = f"k-{amount!r}-{id(amount)}"
    log_trade(
        database,
        ts=NOW,
        symbol="BTC/USDT",
        side="BUY",
        qty=amount,
        price=amount,
        fee=amount,
        idempotency_key=key,
    )
    with database.session() as session:
        stored = session.exec(select(Trade).where(Trade.idempotency_key == key)).one()
    assert stored.qty == amount and stored.price == amount and stored.fee == amount
    assert isinstance(stored.qty, Decimal)


_DBS: dict[str, Database] = {}


def _shared_db(factory: pytest.TempPathFactory) -> Database:
    if "db" not in _DBS:
        _DBS["db"] = Database.open(factory.mktemp("roundtrip") / "rt.db")
    return _DBS["db"]


def test_timestamps_are_stored_as_utc_iso8601(db: Database) -> None:
    tokyo = datetime(2025, 9, 6, 21, 0, tzinfo=UTC).astimezone(
        __import__("zoneinfo").ZoneInfo("Asia/Tokyo")
    )
    log_trade(
        db,
        ts=tokyo,
        symbol="BTC/USDT",
        side="SELL",
        qty=Decimal(1),
        price=Decimal(2),
        fee=Decimal(0),
        idempotency_key="tz",
    )
    raw = sqlite3.connect(db.path).execute("SELECT ts_utc FROM trades").fetchone()[0]
    assert raw == "2025-09-06T21:00:00.000+00:00"
    assert datetime.fromisoformat(raw) == tokyo


def test_naive_datetimes_are_refused(db: Database) -> None:
    with pytest.raises(Exception, match="naive datetime"):
        log_trade(
            db,
            ts=datetime(2025, 1, 1),  # noqa: DTZ001 - the point of the test
            symbol="BTC/USDT",
            side="BUY",
            qty=Decimal(1),
            price=Decimal(1),
            fee=Decimal(0),
            idempotency_key="naive",
        )


def test_v1_database_upgrades_in_place_keeping_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    Database.open(path, target_version=1).close()
    with sqlite3.connect(path) as raw:  # rows as the first version wrote them
        raw.execute(
            "INSERT INTO decisions (ts, agent, trace_id, payload_json, plan_id) "
            "VALUES ('2025-09-06T00:00:00.000+00:00', 'PLANNER', 'trace_v1', '{}', 'plan1')"
        )
        raw.execute(
            "INSERT INTO trades (ts, side, qty, price, fee, order_id, idempotency_key, status) "
            "VALUES ('2025-09-06T00:05:00.000+00:00', 'BUY', '0.00010', '110000.01', '0.011', "
            "'o1', 'idem1', 'FILLED')"
        )
        raw.execute(
            "INSERT INTO portfolio (ts, balances_json, unrealized_pnl, realized_pnl) "
            "VALUES ('2025-09-06T00:05:00.000+00:00', '{\"USDT\": \"5\"}', '0', '0')"
        )
        raw.execute(
            "INSERT INTO memory (ts, key, value_json) "
            "VALUES ('2025-09-06T00:05:00.000+00:00', 'experiment:1', '{\"result\": \"executed\"}')"
        )
        assert raw.execute("PRAGMA user_version").fetchone()[0] == 1

    upgraded = Database.open(path)
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == LATEST_VERSION
        # Kept, except the v1 text handle: plan_id is now the PLANNER row's id (none on it).
        assert raw.execute("SELECT trace_id, ts_utc, plan_id FROM decisions").fetchall() == [
            ("trace_v1", "2025-09-06T00:00:00.000+00:00", None)
        ]
        assert raw.execute("SELECT value_json FROM memory").fetchall() == [
            ('{"result": "executed"}',)
        ]
    with upgraded.session() as session:
        trade = session.exec(select(Trade)).one()
    assert (trade.qty, trade.price, trade.idempotency_key) == (
        Decimal("0.00010"),
        Decimal("110000.01"),
        "idem1",
    )
    assert trade.symbol == "" and trade.fee_asset == "USDT"  # new columns take their defaults
    # The upgraded file works like a new one: the unique key still holds.
    again = log_trade(
        upgraded,
        ts=NOW + timedelta(minutes=1),
        symbol="BTC/USDT",
        side="BUY",
        qty=Decimal(9),
        price=Decimal(9),
        fee=Decimal(0),
        idempotency_key="idem1",
    )
    assert again.qty == Decimal("0.00010")


def test_reopening_a_current_database_applies_nothing(tmp_path: Path) -> None:
    path = tmp_path / "again.db"
    Database.open(path).close()
    from autotrader.db import create_sqlite_engine
    from autotrader.db.migrations import migrate

    with create_sqlite_engine(path).connect() as connection:
        assert migrate(connection) == []


def test_a_database_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    with sqlite3.connect(path) as raw:
        raw.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    with pytest.raises(ConfigError, match="newer than this autotrader"):
        Database.open(path)


MAIN_V4 = Path(__file__).parent / "data" / "main_f6a2be8_v4.db.gz"
TABLES = ("decisions", "trades", "portfolio", "memory", "orders", "experiments", "cycles", "spans")


def _counts(path: Path) -> dict[str, int]:
    with sqlite3.connect(path) as raw:
        return {t: raw.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}


def test_a_database_written_by_main_upgrades_in_place_without_losing_a_row(
    tmp_path: Path,
) -> None:
    path = tmp_path / "main_v4.db"
    path.write_bytes(gzip.decompress(MAIN_V4.read_bytes()))
    before = _counts(path)
    with sqlite3.connect(path) as raw:
        balances = raw.execute("SELECT balances_json, equity FROM portfolio ORDER BY id").fetchall()
        stamps = raw.execute("SELECT ts FROM decisions ORDER BY id").fetchall()
    Database.open(path).close()
    assert _counts(path) == before and before["trades"] == 6 and before["decisions"] == 87
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == LATEST_VERSION
        assert raw.execute("SELECT ts_utc FROM decisions ORDER BY id").fetchall() == stamps
        # Every cycle walks PLANNER <- TRADER <- JUDGE by row id.
        walked = raw.execute(
            "SELECT count(*) FROM decisions j JOIN decisions t ON j.proposal_id = t.id "
            "JOIN decisions p ON t.plan_id = p.id WHERE j.agent = 'JUDGE' "
            "AND t.agent = 'TRADER' AND p.agent = 'PLANNER' AND p.trace_id = j.trace_id"
        ).fetchone()[0]
        assert walked == 29
        linked = raw.execute(
            "SELECT count(*) FROM trades t JOIN decisions d ON t.proposal_id = d.id "
            "WHERE d.agent = 'TRADER' AND d.trace_id = t.trace_id"
        ).fetchone()[0]
        assert linked == 6
        rows = raw.execute(
            "SELECT balances_json, equity, balance_usdt, balance_btc FROM portfolio ORDER BY id"
        ).fetchall()
        experiments = raw.execute(
            "SELECT count(*) FROM experiments e JOIN decisions d ON e.proposal_id = d.id "
            "WHERE d.trace_id = e.trace_id"
        ).fetchone()[0]
    assert [(b, e) for b, e, _, _ in rows] == balances
    for stored, _, usdt, btc in rows:
        assets = json.loads(stored)
        assert (usdt, btc) == (assets["USDT"], assets["BTC"])
    assert experiments == 29


def _seed_database(path: Path) -> None:
    with sqlite3.connect(path) as raw:
        for statement in SEED_DDL:
            raw.execute(statement)
        raw.executemany(
            "INSERT INTO decisions (ts_utc, agent, trace_id, payload_json, plan_id, proposal_id) "
            "VALUES (?, ?, 'tr1', '{}', ?, ?)",
            [
                ("2025-01-01T00:00:00Z", "PLANNER", None, None),
                ("2025-01-01T00:00:00Z", "TRADER", 1, None),
                ("2025-01-01T00:00:00Z", "JUDGE", 1, 2),
            ],
        )
        raw.execute(
            "INSERT INTO trades (ts_utc, side, qty, price, fee, order_id, idempotency_key, "
            "proposal_id, status) VALUES ('2025-01-01T00:00:01Z', 'BUY', '0.001', '95000', "
            "'0.095', 'o1', 'idem-seed', 2, 'FILLED')"
        )
        raw.execute(
            "INSERT INTO portfolio (ts_utc, balance_usdt, balance_btc, unrealized_pnl_usdt, "
            "realized_pnl_usdt) VALUES ('2025-01-01T00:00:02Z', '904.905', '0.001', '0', '0')"
        )
        raw.execute(
            "INSERT INTO memory (ts_utc, key, value_json) "
            "VALUES ('2025-01-01T00:00:03Z', 'note', '{\"a\": 1}')"
        )


def test_a_database_made_with_the_seed_ddl_is_adopted_and_upgraded(tmp_path: Path) -> None:
    path = tmp_path / "seed.db"
    _seed_database(path)
    db = Database.open(path)
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == LATEST_VERSION
        walked = raw.execute(
            "SELECT p.agent, t.agent, j.agent FROM decisions j JOIN decisions t "
            "ON j.proposal_id = t.id JOIN decisions p ON t.plan_id = p.id"
        ).fetchall()
        trade = raw.execute("SELECT qty, proposal_id, idempotency_key FROM trades").fetchall()
        folio = raw.execute(
            "SELECT ts_utc, balance_usdt, balance_btc, balances_json FROM portfolio"
        ).fetchall()
        memory = raw.execute("SELECT key, value_json FROM memory").fetchall()
        leftovers = raw.execute(
            "SELECT name FROM sqlite_master WHERE name LIKE 'seed_%'"
        ).fetchall()
    assert walked == [("PLANNER", "TRADER", "JUDGE")]
    assert trade == [("0.001", 2, "idem-seed")]
    assert folio[0][:3] == ("2025-01-01T00:00:02Z", "904.905", "0.001")
    assert json.loads(folio[0][3]) == {"BTC": "0.001", "USDT": "904.905"}
    assert memory == [("note", '{"a": 1}')] and leftovers == []
    # The adopted file works like a new one.
    again = log_trade(
        db,
        ts=NOW,
        symbol="BTC/USDT",
        side="BUY",
        qty=Decimal(9),
        price=Decimal(9),
        fee=Decimal(0),
        idempotency_key="idem-seed",
    )
    assert again.qty == Decimal("0.001")
    db.close()


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_another_applications_database_is_refused_and_left_byte_for_byte(
    tmp_path: Path,
) -> None:
    path = tmp_path / "theirs.db"
    with sqlite3.connect(path) as raw:
        raw.execute("CREATE TABLE decisions (id INTEGER PRIMARY KEY, verdict TEXT)")
        raw.execute("INSERT INTO decisions (verdict) VALUES ('keep me')")
    before = _digest(path)
    with pytest.raises(ConfigError, match="another application's tables \\(decisions\\)"):
        Database.open(path)
    assert _digest(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["theirs.db"]


def test_a_file_that_is_not_a_database_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "noise.db"
    path.write_bytes(bytes(range(256)) * 16)
    before = _digest(path)
    with pytest.raises(ConfigError, match="is not an SQLite database"):
        Database.open(path)
    assert _digest(path) == before


def test_v8_names_the_arms_by_what_they_do_keeping_their_evidence(tmp_path: Path) -> None:
    path = tmp_path / "v7.db"
    Database.open(path, target_version=7).close()
    with sqlite3.connect(path) as raw:
        for arm, policy in (("hold", "hold"), ("breakout:long", "breakout")):
            raw.execute(
                "INSERT INTO posteriors VALUES ('run1', ?, ?, 3.0, 0.01, 0.001, 3, "
                "'2025-09-06T00:00:00.000+00:00')",
                (arm, policy),
            )
    Database.open(path).close()
    with sqlite3.connect(path) as raw:
        rows = raw.execute("SELECT arm, policy_id, count FROM posteriors ORDER BY arm").fetchall()
        tables = {name for (name,) in raw.execute("SELECT name FROM sqlite_master")}
    assert rows == [("breakout:60", "breakout", 3), ("cash", "hold", 3)]
    assert {"shadow_books", "shadow_positions", "regime_posteriors"} <= tables


def test_a_writers_statement_runs_typed_on_the_cycles_transaction(db: Database) -> None:
    """execute_write binds through the columns' types, as Core would; execute_rows reads them
    back typed; a value left out is refused rather than stored as NULL."""
    now = datetime(2025, 9, 7, 5, 45, tzinfo=UTC)
    row = {
        "scope": "paper:BTC/USDT:5m",
        "arm": "breakout:20",
        "policy_id": "breakout",
        "weight": 1.5,
        "total": 0.25,
        "total_sq": 0.125,
        "count": 2,
        "last_ts": now,
    }
    with db.engine.begin() as connection:
        assert execute_write(connection, UPSERT_ARM, [row, {**row, "count": 3}]) == 2
        assert execute_rows(connection, ARMS_OF_SCOPE, scope=row["scope"]) == [
            ("breakout:20", 1.5, 0.25, 0.125, 3, now)
        ]
        with pytest.raises(KeyError, match="last_ts"):
            execute_write(connection, UPSERT_ARM, {k: v for k, v in row.items() if k != "last_ts"})
    with sqlite3.connect(db.path) as raw:
        assert raw.execute("SELECT last_ts FROM posteriors").fetchall() == [
            ("2025-09-07T05:45:00.000+00:00",)
        ]
