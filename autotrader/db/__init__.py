"""The SQLite audit trail: one file in WAL mode, migrated to the newest schema on open.

`Database.open(path)` gives a handle whose sessions see foreign keys enforced, a busy timeout,
and real transactions (DDL included), so a failed write or migration leaves nothing half-done.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import Column, Connection, Dialect, Engine, Table, create_engine, event
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


Writer = Callable[[Connection], object]


@dataclass(frozen=True)
class _InsertPlan:
    """A table's INSERT and the bind processor of each of its columns."""

    sql: str
    columns: tuple[Column[Any], ...]
    processors: tuple[Callable[[Any], Any] | None, ...]

    @classmethod
    def of(cls, table: Table, dialect: Dialect) -> _InsertPlan:
        columns = tuple(table.columns)
        names = ", ".join(column.name for column in columns)
        marks = ", ".join("?" for _ in columns)
        return cls(
            sql=f"INSERT INTO {table.name} ({names}) VALUES ({marks})",
            columns=columns,
            processors=tuple(column.type.bind_processor(dialect) for column in columns),
        )

    def parameters(self, values: dict[str, Any]) -> tuple[Any, ...]:
        """One row's parameters; a column not given is NULL (an autoincrement id included)."""
        return tuple(
            None
            if (value := values.get(column.name)) is None
            else process(value)
            if process is not None
            else value
            for column, process in zip(self.columns, self.processors, strict=True)
        )


class AuditBuffer:
    """A cycle's writes, committed together in one transaction by `flush`: rows to append and
    writers (functions of the open connection) to run after them.

    Small commits are the main cost of a cycle; the orchestrator flushes before an order is
    sent (so an order's decisions are always on disk first) and at the end of the cycle."""

    def __init__(self) -> None:
        self._rows: list[tuple[type[SQLModel], dict[str, Any]]] = []
        self._writers: list[Writer] = []

    def append_values(self, *rows: tuple[type[SQLModel], dict[str, Any]]) -> None:
        self._rows.extend(rows)

    def then(self, writer: Writer) -> None:
        self._writers.append(writer)

    def flush(self, db: Database) -> None:
        if self._rows or self._writers:
            rows, writers = self._rows, self._writers
            self._rows, self._writers = [], []
            db.write(rows, writers)


class Database:
    """A handle on one autotrader database file."""

    def __init__(self, engine: Engine, path: Path) -> None:
        self.engine = engine
        self.path = path
        self._plans: dict[type[SQLModel], _InsertPlan] = {}

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

    def read(self, sql: str, parameters: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of a plain SQL read on a pooled DBAPI connection: for the few queries every
        cycle makes, where SQLAlchemy's execution machinery costs more than SQLite."""
        connection = self.engine.raw_connection()
        try:
            cursor = connection.cursor()
            rows: list[tuple[Any, ...]] = cursor.execute(sql, tuple(parameters)).fetchall()
            cursor.close()
            return rows
        finally:
            connection.close()

    def append_values(self, *rows: tuple[type[SQLModel], dict[str, Any]]) -> None:
        """Insert (table model, column values) pairs in one transaction, without building
        model objects (pydantic validation is the larger cost on a hot path)."""
        self.write(rows, ())

    def write(
        self, rows: Sequence[tuple[type[SQLModel], dict[str, Any]]], writers: Sequence[Writer]
    ) -> None:
        """Append rows, then run writers, all in one transaction.

        Rows go through the columns' own bind processors (Decimal and UTC text, exactly as the
        ORM stores them) and one DBAPI executemany per table: for a cycle's ~25 small rows,
        SQLAlchemy's per-statement machinery costs several times the inserts themselves."""
        grouped: dict[type[SQLModel], list[dict[str, Any]]] = {}
        for model, values in rows:
            grouped.setdefault(model, []).append(values)
        with self.engine.begin() as connection:
            cursor = connection.connection.cursor()
            for model, batch in grouped.items():
                plan = self._insert_plan(model)
                cursor.executemany(plan.sql, [plan.parameters(values) for values in batch])
            cursor.close()
            for writer in writers:
                writer(connection)

    def _insert_plan(self, model: type[SQLModel]) -> _InsertPlan:
        plan = self._plans.get(model)
        if plan is None:
            plan = self._plans[model] = _InsertPlan.of(model.__table__, self.engine.dialect)  # type: ignore[attr-defined]
        return plan

    def close(self) -> None:
        self.engine.dispose()
