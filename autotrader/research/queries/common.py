"""Pages, their bounds, short trace ids and NotFound: what every read of the layer shares."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from autotrader.errors import ConfigError

T = TypeVar("T")
DEFAULT_LIMIT = 50
MAX_LIMIT = 500
SHORT_TRACE = 8  # hex digits of a trace id shown in narrow places; any unique prefix resolves


class NotFound(ConfigError):
    """The run, trace or page asked for is not in this database."""


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


def bounded(limit: int | None, offset: int | None) -> tuple[int, int]:
    """A page's limit within 1..MAX_LIMIT and a non-negative offset."""
    return max(1, min(MAX_LIMIT, limit or DEFAULT_LIMIT)), max(0, offset or 0)


def short_trace(trace_id: str) -> str:
    return trace_id.removeprefix("trace_")[:SHORT_TRACE]
