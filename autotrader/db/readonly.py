"""A reader's handle on the database: opened with SQLite's `mode=ro` URI and `query_only`, never
migrated, so the dashboard, `report`, `trace` and the inspection commands cannot write, and can
read while the agent writes (WAL readers see the last committed cycle).

`open_readonly` raises ConfigError in one line when the file is missing, is not autotrader's, or
is at an older schema version (the writer upgrades a database; a reader never does).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import create_engine, event

from autotrader.db import BUSY_TIMEOUT_MS, Database
from autotrader.db.migrations import LATEST_VERSION, refuse_if_not_ours, schema_version
from autotrader.errors import ConfigError


def _configure(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # BEGIN comes from _begin: one snapshot per session
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA query_only=ON")
    cursor.close()


def _begin(connection: Any) -> None:
    connection.exec_driver_sql("BEGIN")


def open_readonly(path: Path | str) -> Database:
    db_path = Path(path)
    if not db_path.is_file():
        raise ConfigError(f"no database at {db_path}; run the agent first or pass --db")
    refuse_if_not_ours(db_path)
    uri = f"file:{quote(str(db_path.absolute()))}?mode=ro&uri=true"
    engine = create_engine(f"sqlite:///{uri}", connect_args={"check_same_thread": False})
    event.listen(engine, "connect", _configure)
    event.listen(engine, "begin", _begin)
    with engine.connect() as connection:
        version = schema_version(connection)
    if version != LATEST_VERSION:
        engine.dispose()
        raise ConfigError(
            f"{db_path} is at schema version {version}, this autotrader reads {LATEST_VERSION}; "
            "run the agent on it once to upgrade it (readers never write)"
        )
    return Database(engine, db_path)
