"""What both storms check against the venue's own record of what it executed (the fake's book,
or the paper venue's fills): lost fills, and order rows whose status says otherwise."""

from __future__ import annotations

import sqlite3
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

OPEN_CYCLE_ORDERS = (
    "SELECT o.client_order_id FROM orders o JOIN cycles c ON c.trace_id = o.trace_id "
    "WHERE c.status = 'OPEN'"
)


def rows(db: Path, query: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as raw:
        return raw.execute(query).fetchall()


def lost_fills(db: Path, executed: Collection[str]) -> list[str]:
    """Client ids the venue executed that the ledger has no trade for although their cycle is
    not open (it finished, or there is none), each with what its order row says."""
    booked = {cid for (cid,) in rows(db, "SELECT client_order_id FROM trades")}
    in_open_cycles = {cid for (cid,) in rows(db, OPEN_CYCLE_ORDERS)}
    status = dict(
        rows(db, "SELECT client_order_id, status || ': ' || coalesce(error, '') FROM orders")
    )
    return [
        f"{cid} {status.get(cid, 'no order row')}"
        for cid in sorted(set(executed))
        if cid not in booked and cid not in in_open_cycles
    ]


@dataclass(frozen=True)
class OrderTruth:
    contradicting: int  # FILLED without an execution, REJECTED or UNKNOWN with one, in flight
    unresolved: int  # UNKNOWN and not at the venue: true, only not settled yet


def order_truth(db: Path, executed: Collection[str]) -> OrderTruth:
    """Every order row's status against the venue's record (after the run, so NEW and PENDING
    are in flight when nothing is)."""
    contradicting = unresolved = 0
    for cid, status in rows(db, "SELECT client_order_id, status FROM orders"):
        at_venue = cid in executed
        if status == "UNKNOWN" and not at_venue:
            unresolved += 1
        elif status in ("NEW", "PENDING") or (status == "FILLED") != at_venue:
            contradicting += 1
    return OrderTruth(contradicting, unresolved)
