"""The SQLite audit trail: one file in WAL mode, migrated to the newest schema on open.

`Database.open(path)` gives a handle whose sessions see foreign keys enforced, a busy timeout,
and real transactions (DDL included), so a failed write or migration leaves nothing half-done.
Every statement is SQLAlchemy over the SQLModel tables: ORM sessions where a few rows are read
or changed, and, on the hot path, Core statements compiled once and run on the DBAPI cursor
through the columns' own type processors (`read`, `write`, and inside a write's transaction
`execute_rows`, `execute_write`).
"""

from __future__ import annotations

import sqlite3
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import Connection, Dialect, Engine, create_engine, event
from sqlalchemy.exc import OperationalError
from sqlalchemy.sql import ClauseElement, Select
from sqlalchemy.sql.compiler import SQLCompiler
from sqlmodel import Session, SQLModel
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from autotrader.db.migrations import LATEST_VERSION, migrate, refuse_if_not_ours
from autotrader.errors import DatabaseBusy

BUSY_TIMEOUT_MS = 10_000
# A write that finds the database locked past the busy timeout (another process holding its
# write lock) is retried in a fresh transaction, with back-off, before the cycle gives up.
LOCKED_ATTEMPTS = 4
LOCKED_FIRST_WAIT_SECS = 1.0


def is_locked(error: BaseException) -> bool:
    """SQLite's "database is locked" / "busy", through SQLAlchemy or the DBAPI."""
    text = str(getattr(error, "orig", error)).lower()
    return isinstance(error, OperationalError | sqlite3.OperationalError) and (
        "locked" in text or "busy" in text
    )


Processor = Callable[[Any], Any] | None
Query = Select[*tuple[Any, ...]]  # a SELECT of any columns
Statement = ClauseElement  # a Core SELECT, INSERT or UPDATE with named bindparams


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
    # The driver's own timeout covers the PRAGMAs that run before busy_timeout is set.
    connect_args = {"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000}
    engine = create_engine(f"sqlite:///{path}", connect_args=connect_args)
    event.listen(engine, "connect", _configure_sqlite)
    event.listen(engine, "begin", _begin)
    return engine


Row = tuple[type[SQLModel], dict[str, Any]]


class Sink(Protocol):
    """Where audit rows go: straight to the database, or to a cycle's AuditBuffer."""

    def append_values(self, *rows: Row) -> None: ...

    def append_once(self, *rows: Row) -> None: ...


Writer = Callable[[Connection], object]


def decision_link_sql(agent: str) -> str:
    """The id of the newest `agent` decision of the trace bound to `?` (None if there is none):
    how a row's plan_id / proposal_id is filled from its trace_id at insert."""
    return (
        "(SELECT max(decisions.id) FROM decisions "
        f"WHERE decisions.trace_id = ? AND decisions.agent = '{agent}')"
    )


@dataclass(frozen=True)
class _InsertPlan:
    """A table's INSERT, and for each `?` the column value it takes and its bind processor."""

    sql: str
    sources: tuple[str, ...]
    processors: tuple[Processor, ...]

    @classmethod
    def of(cls, model: type[SQLModel], dialect: Dialect, *, or_ignore: bool) -> _InsertPlan:
        table = model.__table__  # type: ignore[attr-defined]
        links: dict[str, str] = getattr(model, "decision_links", {})
        trace_id = table.columns["trace_id"] if links else None
        link_processor = None if trace_id is None else trace_id.type.bind_processor(dialect)
        names, marks, sources, processors = [], [], [], []
        for column in table.columns:
            names.append(column.name)
            if column.name in links:
                marks.append(decision_link_sql(links[column.name]))
                sources.append("trace_id")
                processors.append(link_processor)
            else:
                marks.append("?")
                sources.append(column.name)
                processors.append(column.type.bind_processor(dialect))
        verb = "INSERT OR IGNORE" if or_ignore else "INSERT"
        sql = f"{verb} INTO {table.name} ({', '.join(names)}) VALUES ({', '.join(marks)})"
        return cls(sql, tuple(sources), tuple(processors))

    def parameters(self, values: dict[str, Any]) -> tuple[Any, ...]:
        """One row's parameters; a column not given is NULL (an autoincrement id included)."""
        return tuple(
            None
            if (value := values.get(source)) is None
            else process(value)
            if process is not None
            else value
            for source, process in zip(self.sources, self.processors, strict=True)
        )


@dataclass(frozen=True)
class _StatementPlan:
    """A compiled statement: its SQL, its parameters in order (with the statement's own literal
    values as defaults) and the bind and result processors of their types (a SELECT's columns;
    an INSERT or UPDATE returns none)."""

    sql: str
    names: tuple[str, ...]
    defaults: tuple[Any, ...]
    binds: tuple[Processor, ...]
    results: tuple[Processor, ...]

    @classmethod
    def of(cls, statement: Statement, dialect: Dialect) -> _StatementPlan:
        compiled = statement.compile(dialect=dialect)
        assert isinstance(compiled, SQLCompiler)  # a Core statement, not DDL
        names = tuple(compiled.positiontup or ())
        params = [compiled.binds[name] for name in names]
        return cls(
            sql=compiled.string,
            names=names,
            defaults=tuple(param.value for param in params),
            binds=tuple(param.type.bind_processor(dialect) for param in params),
            results=tuple(
                column.type.result_processor(dialect, None)
                for column in getattr(statement, "selected_columns", None) or ()
            ),
        )

    def parameters(self, given: dict[str, Any]) -> tuple[Any, ...]:
        values = (
            given.get(name, default)
            for name, default in zip(self.names, self.defaults, strict=True)
        )
        return tuple(
            value if process is None or value is None else process(value)
            for value, process in zip(values, self.binds, strict=True)
        )

    def require(self, given: dict[str, Any]) -> None:
        """Refuse a write that leaves a bound value out (but `id`) instead of storing NULL."""
        missing = [
            name
            for name, default in zip(self.names, self.defaults, strict=True)
            if default is None and name != "id" and name not in given
        ]
        if missing:
            raise KeyError(f"no value for {', '.join(missing)}: pass every column it binds")

    def row(self, raw: Sequence[Any]) -> tuple[Any, ...]:
        return tuple(
            value if process is None else process(value)
            for value, process in zip(raw, self.results, strict=True)
        )


# Compiled once per statement object; weakly held, so a query built per call goes with it.
_PLANS: weakref.WeakKeyDictionary[Statement, _StatementPlan] = weakref.WeakKeyDictionary()


def _plan_of(statement: Statement, dialect: Dialect) -> _StatementPlan:
    plan = _PLANS.get(statement)
    if plan is None:
        plan = _PLANS[statement] = _StatementPlan.of(statement, dialect)
    return plan


def execute_rows(
    connection: Connection, statement: Statement, **params: Any
) -> list[tuple[Any, ...]]:
    """The typed rows of a SELECT run inside `connection`'s transaction (a writer's read), on
    its DBAPI cursor: the same compiled plan `Database.read` uses."""
    return _fetch(connection.connection, _plan_of(statement, connection.dialect), params)


def _fetch(
    dbapi_connection: Any, plan: _StatementPlan, params: dict[str, Any]
) -> list[tuple[Any, ...]]:
    cursor = dbapi_connection.cursor()
    try:
        raw = cursor.execute(plan.sql, plan.parameters(params)).fetchall()
    finally:
        cursor.close()
    return [plan.row(row) for row in raw]


def execute_write(
    connection: Connection, statement: Statement, params: dict[str, Any] | Sequence[dict[str, Any]]
) -> int:
    """Run an INSERT or UPDATE inside `connection`'s transaction on its DBAPI cursor, once per
    parameter dict (one executemany for a list); the rows it changed. Every bound name must be
    given (but an INTEGER PRIMARY KEY `id`, which SQLite fills): Core would fill a missing one
    from a column default, and this does not."""
    plan = _plan_of(statement, connection.dialect)
    many = [params] if isinstance(params, dict) else list(params)
    for given in many:
        plan.require(given)
    cursor = connection.connection.cursor()
    try:
        cursor.executemany(plan.sql, [plan.parameters(given) for given in many])
        return int(cursor.rowcount)
    finally:
        cursor.close()


class AuditBuffer:
    """A cycle's writes, committed together in one transaction by `flush`: rows to append, rows
    to add unless already there (by a unique key), and writers (functions of the open connection)
    to run after them.

    Small commits are the main cost of a cycle; the orchestrator flushes a trading cycle's
    decisions with its order intent before the order is sent, and everything else at its end."""

    def __init__(self) -> None:
        self._rows: list[Row] = []
        self._once: list[Row] = []
        self._writers: list[Writer] = []

    def append_values(self, *rows: Row) -> None:
        self._rows.extend(rows)

    def append_once(self, *rows: Row) -> None:
        self._once.extend(rows)

    def then(self, writer: Writer) -> None:
        self._writers.append(writer)

    def flush(self, db: Database) -> None:
        if self._rows or self._once or self._writers:
            rows, once, writers = self._rows, self._once, self._writers
            db.write(rows, writers, once=once)
            self._rows, self._once, self._writers = [], [], []


class Database:
    """A handle on one autotrader database file."""

    def __init__(self, engine: Engine, path: Path) -> None:
        self.engine = engine
        self.path = path
        self._inserts: dict[tuple[type[SQLModel], bool], _InsertPlan] = {}

    @classmethod
    def open(cls, path: Path | str, *, target_version: int = LATEST_VERSION) -> Database:
        db_path = Path(path)
        if db_path.is_file() and db_path.stat().st_size > 0:
            refuse_if_not_ours(db_path)  # before WAL mode or anything else touches it
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

    def read(self, statement: Query, **params: Any) -> list[tuple[Any, ...]]:
        """The rows of a SELECT (module-level statements with named bindparams), values typed by
        their columns. Compiled once per statement and run on a pooled DBAPI connection: for the
        few queries every cycle makes, SQLAlchemy's execution machinery costs more than SQLite."""
        connection = self.engine.raw_connection()
        try:
            return _fetch(connection, _plan_of(statement, self.engine.dialect), params)
        finally:
            connection.close()

    def append_values(self, *rows: Row) -> None:
        """Insert (table model, column values) pairs in one transaction, without building
        model objects (pydantic validation is the larger cost on a hot path)."""
        self.write(rows, ())

    def append_once(self, *rows: Row) -> None:
        """Insert rows unless a unique key already holds them, in one transaction."""
        self.write((), (), once=rows)

    def write(
        self, rows: Sequence[Row], writers: Sequence[Writer] = (), *, once: Sequence[Row] = ()
    ) -> None:
        """Append rows, add `once` rows unless a unique key already holds them, then run
        writers, all in one transaction.

        Rows go through the columns' own bind processors (Decimal and UTC text, exactly as the
        ORM stores them) and one DBAPI executemany per table, in the order tables first appear
        (a cycle's decisions before the rows that link to them): for a cycle's ~25 small rows,
        SQLAlchemy's per-statement machinery costs several times the inserts themselves."""
        retrying = Retrying(
            stop=stop_after_attempt(LOCKED_ATTEMPTS),
            wait=wait_exponential(multiplier=LOCKED_FIRST_WAIT_SECS, max=30),
            retry=retry_if_exception(is_locked),
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt, self.engine.begin() as connection:
                    self._write(connection, rows, writers, once)
        except (OperationalError, sqlite3.OperationalError) as error:
            if not is_locked(error):
                raise
            raise DatabaseBusy(
                f"{self.path} stayed locked by another process through {LOCKED_ATTEMPTS} tries; "
                "stop whatever holds it (a second writer, an open sqlite3 shell)"
            ) from None

    def _write(
        self,
        connection: Connection,
        rows: Sequence[Row],
        writers: Sequence[Writer],
        once: Sequence[Row],
    ) -> None:
        cursor = connection.connection.cursor()
        for or_ignore, batch in ((False, rows), (True, once)):
            grouped: dict[type[SQLModel], list[dict[str, Any]]] = {}
            for model, values in batch:
                grouped.setdefault(model, []).append(values)
            for model, table_rows in grouped.items():
                plan = self._insert_plan(model, or_ignore=or_ignore)
                cursor.executemany(plan.sql, [plan.parameters(v) for v in table_rows])
        cursor.close()
        for writer in writers:
            writer(connection)

    def _insert_plan(self, model: type[SQLModel], *, or_ignore: bool) -> _InsertPlan:
        plan = self._inserts.get((model, or_ignore))
        if plan is None:
            plan = _InsertPlan.of(model, self.engine.dialect, or_ignore=or_ignore)
            self._inserts[(model, or_ignore)] = plan
        return plan

    def close(self) -> None:
        self.engine.dispose()
