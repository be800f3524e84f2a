"""Column types that keep money exact and time unambiguous in SQLite's TEXT.

DecimalText stores a Decimal in plain notation and reads back an equal Decimal; UtcTimestamp
stores an aware datetime as UTC ISO-8601 with milliseconds, so text order is time order.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import String
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


def decimal_to_text(value: Decimal) -> str:
    if not value.is_finite():
        raise ValueError(f"refusing to store non-finite amount {value}")
    return format(value, "f")


def utc_iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError(f"refusing to store naive datetime {moment}; use an aware UTC datetime")
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


class DecimalText(TypeDecorator[Decimal]):
    impl = String
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return decimal_to_text(value if isinstance(value, Decimal) else Decimal(str(value)))

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        return None if value is None else Decimal(value)


class UtcTimestamp(TypeDecorator[datetime]):
    impl = String
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else utc_iso(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        return None if value is None else datetime.fromisoformat(value)
