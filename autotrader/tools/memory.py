"""The agent's memory log: keyed JSON notes, append-only; the newest note of a key is its value.

The research loop keeps its experiments and posteriors in its own tables (research/store.py) and
notes each experiment here too, as the seed's memory tool does.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlmodel import col, select

from autotrader.db import Database, Sink
from autotrader.db.models import MemoryEntry


def note(sink: Sink, key: str, value: Any, ts: datetime) -> None:
    """Append a note (to a cycle's buffer or straight to the database); recall(key) returns
    the newest one."""
    sink.append_values((MemoryEntry, {"ts_utc": ts, "key": key, "value_json": json.dumps(value)}))


def recall(db: Database, key: str) -> Any | None:
    query = (
        select(MemoryEntry.value_json)
        .where(MemoryEntry.key == key)
        .order_by(col(MemoryEntry.id).desc())
        .limit(1)
    )
    with db.session() as session:
        found = session.exec(query).first()
    return None if found is None else json.loads(found)
