"""The SQLite audit trail: one file in WAL mode, migrated to the newest schema on open.

`Database.open(path)` gives a handle whose sessions see foreign keys enforced, a busy timeout,
and real transactions (DDL included), so a failed write or migration leaves nothing half-done.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlmodel import Session

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

    def close(self) -> None:
        self.engine.dispose()
