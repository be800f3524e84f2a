"""The SQLite audit trail: one file in WAL mode, migrated to the newest schema on open.

`Database.open(path)` gives a handle whose sessions see foreign keys enforced, a busy timeout,
and real transactions (DDL included), so a failed write or migration leaves nothing half-done.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import Engine, Table, create_engine, event
from sqlmodel import Session, SQLModel

from autotrader.db.migrations import LATEST_VERSION, migrate

BUSY_TIMEOUT_MS = 10_000


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy emit BEGIN itself (see _begin) so DDL runs inside transactions too.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _begin(connection: Any) -> None:
    connection.exec_driver_sql("BEGIN")


def create_sqlite_engine(path: Path | str) -> Engine:
    engine = create_engine(f"sqlite:///{path}", connect_args={"check_same_thread": False})
    event.listen(engine, "connect", _configure_sqlite)
    event.listen(engine, "begin", _begin)
    return engine


class Sink(Protocol):
    """Where audit rows go: straight to the database, or to a cycle's AuditBuffer."""

    def append_values(self, *rows: tuple[type[SQLModel], dict[str, Any]]) -> None: ...


class AuditBuffer:
    """A cycle's audit rows, committed together in one transaction by `flush`.

    Small commits are the main cost of a cycle; the orchestrator flushes before an order is
    sent (so an order's decisions are always on disk first) and at the end of the cycle."""

    def __init__(self) -> None:
        self._rows: list[tuple[type[SQLModel], dict[str, Any]]] = []

    def append_values(self, *rows: tuple[type[SQLModel], dict[str, Any]]) -> None:
        self._rows.extend(rows)

    def flush(self, db: Database) -> None:
        if self._rows:
            rows, self._rows = self._rows, []
            db.append_values(*rows)


class Database:
    """A handle on one autotrader database file."""

    def __init__(self, engine: Engine, path: Path) -> None:
        self.engine = engine
        self.path = path

    @classmethod
    def open(cls, path: Path | str, *, target_version: int = LATEST_VERSION) -> Database:
        db_path = Path(path)
        db_path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_sqlite_engine(db_path)
        with engine.connect() as connection:
            migrate(connection, target_version)
        return cls(engine, db_path)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: committed if the block ends normally, rolled back if it raises."""
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            yield session

    def append(self, *rows: SQLModel) -> None:
        """Insert rows in one transaction through SQLAlchemy Core: the audit trail is
        append-only, and skipping the ORM's unit of work makes each row ~3x cheaper."""
        batches: list[tuple[type[SQLModel], dict[str, Any]]] = []
        for row in rows:
            table: Table = type(row).__table__  # type: ignore[attr-defined]
            values = {
                column.name: getattr(row, column.name)
                for column in table.columns
                if not (column.primary_key and getattr(row, column.name) is None)
            }
            batches.append((type(row), values))
        self.append_values(*batches)

    def append_values(self, *rows: tuple[type[SQLModel], dict[str, Any]]) -> None:
        """Insert (table model, column values) pairs in one transaction, without building
        model objects (pydantic validation is the larger cost on a hot path)."""
        with self.engine.begin() as connection:
            for model, values in rows:
                connection.execute(model.__table__.insert(), values)  # type: ignore[attr-defined]

    def close(self) -> None:
        self.engine.dispose()
