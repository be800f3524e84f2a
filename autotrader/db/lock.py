"""One writer per database: an exclusive advisory lock on `<database>.lock`, which also holds the
writer's pid. A second writer stops at once with a line naming the holder; readers (report,
trace, the dashboard) take no lock and open the database read-only.

POSIX only (fcntl.flock); the lock goes with the process, so a crash never leaves it held.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from types import TracebackType

from autotrader.errors import DatabaseBusy


def lock_path(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".lock")


class WriterLock:
    def __init__(self, db_path: Path) -> None:
        self.path = lock_path(db_path)
        self._file: int | None = None

    def __enter__(self) -> WriterLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(handle, 32).decode(errors="replace").strip() or "unknown"
            os.close(handle)
            raise DatabaseBusy(
                f"another autotrader (pid {holder}) is writing {self.path.with_suffix('')}; "
                f"stop it first (kill {holder}) or use another --db"
            ) from None
        os.ftruncate(handle, 0)
        os.write(handle, str(os.getpid()).encode())
        self._file = handle
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._file, 0)
            os.close(self._file)  # releases the lock
            self._file = None
