"""A stored trace as a tree of spans with timings, and trace ids from their short prefixes."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import col, select

from autotrader.db import Database
from autotrader.db.models import SpanRecord, TraceRecord
from autotrader.db.span_store import load_spans
from autotrader.research.queries.common import NotFound

TRACE_TEXT = re.compile(r"^(trace_)?([0-9a-f]{4,32})$")


def resolve_trace(db: Database, text: str) -> str:
    """The full trace id for a full id or a unique prefix of at least 4 hex digits (with or
    without 'trace_'): what the console and the cycles table show."""
    found = TRACE_TEXT.match(text.strip().lower())
    if found is None:
        raise NotFound(
            f"no trace {text!r} in {db.path}: a trace id is trace_ and hex digits, or a unique "
            "prefix of them (e.g. 1a2b3c4d); `runner.py cycles` lists them"
        )
    pattern = f"trace_{found.group(2)}*"  # GLOB: case-sensitive, uses the primary key
    with db.session() as session:
        ids = session.exec(
            select(TraceRecord.trace_id)
            .where(col(TraceRecord.trace_id).op("GLOB")(pattern))
            .limit(2)
        ).all()
    if not ids:
        raise NotFound(
            f"no trace {text!r} in {db.path}; `runner.py cycles` lists trace ids (traces older "
            "than TRACE_RETENTION_DAYS before the newest cycle are pruned)"
        )
    if len(ids) > 1:
        raise NotFound(f"trace {text!r} is ambiguous in {db.path}; give more of its digits")
    return ids[0]


@dataclass(frozen=True)
class SpanNode:
    """A span in tree order: its depth, its exported data, and its timing from the trace start."""

    span: SpanRecord
    depth: int
    data: dict[str, Any]
    offset_ms: float | None
    duration_ms: float | None


@dataclass(frozen=True)
class TraceView:
    trace: TraceRecord
    nodes: list[SpanNode]
    duration_ms: float | None


MAX_SPANS = 2000  # a cycle's trace is bounded anyway (max_turns); a page never grows past this


def _ms(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds() * 1000


def trace_view(db: Database, trace_id: str) -> TraceView:
    """One stored trace's spans as a tree (parents before children, siblings by start time)."""
    with db.session() as session:
        trace = session.get(TraceRecord, trace_id)
        if trace is None:
            raise NotFound(
                f"no trace {trace_id!r} in {db.path}; `runner.py cycles` lists trace ids"
            )
        spans = load_spans(session, trace, MAX_SPANS)
    known = {s.span_id for s in spans}
    children: dict[str | None, list[SpanRecord]] = defaultdict(list)
    for span in spans:  # a span whose parent is missing hangs from the root
        children[span.parent_id if span.parent_id in known else None].append(span)
    nodes: list[SpanNode] = []

    def walk(parent: str | None, depth: int) -> None:
        for span in children.get(parent, []):
            nodes.append(
                SpanNode(
                    span,
                    depth,
                    json.loads(span.data_json),
                    _ms(trace.started_at, span.started_at),
                    _ms(span.started_at, span.ended_at),
                )
            )
            walk(span.span_id, depth + 1)

    walk(None, 0)
    return TraceView(trace, nodes, _ms(trace.started_at, trace.ended_at))
