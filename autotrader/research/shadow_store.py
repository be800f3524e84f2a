"""The shadow research's tables: each arm's book, its closed positions, and the discounted
reward sums per (arm, regime) that the posteriors are read from (open positions counted at
the latest close when read, `with_open_positions`).

Evidence is discounted in the arm's own positions, not in wall hours: each new position of an
arm multiplies what that arm knew before by 2 ** (-1 / POSITION_HALF_LIFE), in the position's
regime cell and in the pooled cell `all`. Reads cost O(arms x regimes) whatever the history.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Connection, bindparam
from sqlalchemy import select as select_columns
from sqlalchemy.dialects.sqlite import insert
from sqlmodel import col

from autotrader.clock import from_ms, to_ms
from autotrader.db import Database, Sink, execute_rows, execute_write
from autotrader.db.models import RegimeAggregate, ShadowBook, ShadowPosition
from autotrader.research.posteriors import ArmStats
from autotrader.research.regime import POOLED
from autotrader.research.shadow import Book, Position, position_reward

POSITION_HALF_LIFE = 30  # an arm's positions after which its older evidence counts half
DISCOUNT = 2.0 ** (-1.0 / POSITION_HALF_LIFE)

BOOKS = select_columns(
    *(
        col(c)
        for c in (
            ShadowBook.arm,
            ShadowBook.last_candle_ts,
            ShadowBook.long,
            ShadowBook.entry_price,
            ShadowBook.entry_ts,
            ShadowBook.entry_regime,
        )
    )
).where(col(ShadowBook.scope) == bindparam("scope"))
CELLS = select_columns(
    *(
        col(c)
        for c in (
            RegimeAggregate.arm,
            RegimeAggregate.regime,
            RegimeAggregate.weight,
            RegimeAggregate.total,
            RegimeAggregate.total_sq,
            RegimeAggregate.count,
            RegimeAggregate.last_ts,
        )
    )
).where(col(RegimeAggregate.scope) == bindparam("scope"))
_books = insert(ShadowBook)
UPSERT_BOOK = _books.on_conflict_do_update(
    index_elements=["scope", "arm"],
    set_={
        name: _books.excluded[name]
        for name in ("last_candle_ts", "long", "entry_price", "entry_ts", "entry_regime")
    },
)
_cells = insert(RegimeAggregate)
UPSERT_CELL = _cells.on_conflict_do_update(
    index_elements=["scope", "arm", "regime"],
    set_={
        name: _cells.excluded[name] for name in ("weight", "total", "total_sq", "count", "last_ts")
    },
)

Cells = dict[tuple[str, str], ArmStats]  # (arm, regime) -> sums; regime POOLED pools them


def read_books(db: Database, scope: str) -> dict[str, Book]:
    books = {}
    for arm, seen, long, entry_price, entry_ts, entry_regime in db.read(BOOKS, scope=scope):
        books[arm] = Book(
            arm,
            to_ms(seen),
            bool(long),
            entry_price,
            None if entry_ts is None else to_ms(entry_ts),
            entry_regime,
        )
    return books


def read_cells(db: Database, scope: str) -> Cells:
    return {(arm, regime): ArmStats(*sums) for arm, regime, *sums in db.read(CELLS, scope=scope)}


def fold(
    cells: Cells, positions: Iterable[Position], now: datetime
) -> tuple[Cells, set[tuple[str, str]]]:
    """The sums after these positions (oldest first), and the cells they touched. Each position
    first discounts its arm's evidence (all its cells) by DISCOUNT, then adds its reward to its
    regime's cell and to the pooled one."""
    folded = dict(cells)
    touched: set[tuple[str, str]] = set()
    for position in positions:
        for key, stats in list(folded.items()):
            if key[0] == position.arm:
                folded[key] = discounted(stats)
                touched.add(key)
        for regime in {position.regime, POOLED}:
            key = (position.arm, regime)
            stats = folded.get(key, ArmStats())
            folded[key] = ArmStats(
                stats.weight + 1.0,
                stats.total + position.reward,
                stats.total_sq + position.reward**2,
                stats.count + 1,
                now,
            )
            touched.add(key)
    return folded, touched


def discounted(stats: ArmStats) -> ArmStats:
    return replace(
        stats,
        weight=stats.weight * DISCOUNT,
        total=stats.total * DISCOUNT,
        total_sq=stats.total_sq * DISCOUNT,
    )


def with_open_positions(
    cells: Cells, books: Iterable[Book], price: Decimal | None, one_way_cost: Decimal, now: datetime
) -> Cells:
    """The sums with every open shadow position counted as if it closed at `price`: a position
    a crash leaves open (its rule waiting for an exit that does not come) weighs on its arm now,
    not only once it closes."""
    if price is None:
        return cells
    marked = [
        Position(
            b.arm,
            b.entry_regime or POOLED,
            b.entry_ts,
            b.entry_price,
            to_ms(now),
            price,
            position_reward(b.entry_price, price, one_way_cost),
        )
        for b in books
        if b.long and b.entry_price is not None and b.entry_ts is not None
    ]
    return fold(cells, marked, now)[0] if marked else cells


@dataclass(frozen=True)
class ShadowUpdate:
    """A cycle's move of the shadow research, written with the cycle's commit."""

    scope: str
    books: dict[str, Book]
    positions: list[Position]
    now: datetime

    def stage(self, sink: Sink) -> None:
        """The closed positions as rows of the cycle's audit buffer."""
        for p in self.positions:
            sink.append_values(
                (
                    ShadowPosition,
                    {
                        "scope": self.scope,
                        "arm": p.arm,
                        "regime": p.regime,
                        "entry_ts": from_ms(p.entry_ts),
                        "entry_price": p.entry_price,
                        "exit_ts": from_ms(p.exit_ts),
                        "exit_price": p.exit_price,
                        "reward": p.reward,
                    },
                )
            )

    def __call__(self, connection: Connection) -> None:
        """Upsert the books and fold the positions into the sums, inside the cycle's
        transaction (the sums are read there, so they are current)."""
        books = [
            {
                "scope": self.scope,
                "arm": b.arm,
                "last_candle_ts": from_ms(b.seen),
                "long": b.long,
                "entry_price": b.entry_price,
                "entry_ts": None if b.entry_ts is None else from_ms(b.entry_ts),
                "entry_regime": b.entry_regime,
            }
            for b in self.books.values()
            if b.seen is not None
        ]
        if books:
            execute_write(connection, UPSERT_BOOK, books)
        if not self.positions:
            return
        cells = {
            (str(arm), str(regime)): ArmStats(*sums)
            for arm, regime, *sums in execute_rows(connection, CELLS, scope=self.scope)
        }
        folded, touched = fold(cells, self.positions, self.now)
        execute_write(
            connection,
            UPSERT_CELL,
            [_cell_row(self.scope, key, folded[key]) for key in sorted(touched)],
        )


def _cell_row(scope: str, key: tuple[str, str], stats: ArmStats) -> dict[str, object]:
    return {
        "scope": scope,
        "arm": key[0],
        "regime": key[1],
        "weight": stats.weight,
        "total": stats.total,
        "total_sq": stats.total_sq,
        "count": stats.count,
        "last_ts": stats.last_ts,
    }


def positions_of(db: Database, scope: str) -> Sequence[tuple[object, ...]]:
    """Every closed shadow position of a scope, oldest exit first (reports, tests)."""
    query = (
        select_columns(
            col(ShadowPosition.arm),
            col(ShadowPosition.regime),
            col(ShadowPosition.reward),
            col(ShadowPosition.exit_ts),
        )
        .where(col(ShadowPosition.scope) == bindparam("scope"))
        .order_by(col(ShadowPosition.exit_ts), col(ShadowPosition.id))
    )
    return db.read(query, scope=scope)
