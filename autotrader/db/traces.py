"""A trace processor that keeps every span of every cycle in the database, always.

Spans are buffered per trace and written when the trace ends, as one compact row
(db/span_store.py): into the cycle's audit buffer when the orchestrator routed the trace there
(one commit for the whole cycle), else directly. Long fields are shortened (the candles behind a
tool call can be fetched again from the data); research/queries/traces.py reads them back.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from agents.tracing import Span, Trace, TracingProcessor

from autotrader.db import Database, Sink
from autotrader.db.models import SpanInput, TraceRecord
from autotrader.db.span_store import INPUT_REF, canonical, encode_spans, input_hash

MAX_FIELD_CHARS = 1500


def _shorten(value: Any) -> Any:
    if isinstance(value, str) and len(value) > MAX_FIELD_CHARS:
        return f"{value[:MAX_FIELD_CHARS]}... [{len(value)} chars]"
    if isinstance(value, dict):
        return {key: _shorten(item) for key, item in value.items()}
    if isinstance(value, list):
        shortened = [_shorten(item) for item in value[:50]]
        return shortened + ([f"... [{len(value)} items]"] if len(value) > 50 else [])
    return value


def span_name(data: dict[str, Any]) -> str:
    kind = data.get("type", "")
    if kind == "handoff":
        return f"{data.get('from_agent')} -> {data.get('to_agent')}"
    if kind == "generation":
        return str(data.get("model") or "model")
    if kind == "custom":
        inner = data.get("data") or {}
        return str(inner.get("agent_name") or inner.get("name") or data.get("name"))
    return str(data.get("name") or kind)


class LocalTraceStore(TracingProcessor):
    def __init__(self, db: Database) -> None:
        self._db = db
        self._lock = threading.Lock()
        self._traces: dict[str, dict[str, Any]] = {}
        self._spans: dict[str, list[dict[str, Any]]] = {}
        self._inputs: dict[str, dict[str, str]] = {}  # per trace: hash -> generation input item
        self._routes: dict[str, Sink] = {}

    def route(self, trace_id: str, sink: Sink) -> None:
        """Write this trace's rows to `sink` (a cycle's audit buffer) when it ends."""
        with self._lock:
            self._routes[trace_id] = sink

    def on_trace_start(self, trace: Trace) -> None:
        exported = trace.export() or {}
        with self._lock:
            self._traces[trace.trace_id] = {
                "trace_id": trace.trace_id,
                "workflow_name": str(exported.get("workflow_name") or trace.name),
                "group_id": exported.get("group_id"),
                "metadata_json": json.dumps(exported.get("metadata") or {}, default=str),
            }
            self._spans.setdefault(trace.trace_id, [])
            self._inputs.setdefault(trace.trace_id, {})

    def on_trace_end(self, trace: Trace) -> None:
        exported = trace.export() or {}  # the metadata as the cycle left it (its outcome)
        with self._lock:
            if trace.trace_id in self._traces:
                self._traces[trace.trace_id]["metadata_json"] = json.dumps(
                    exported.get("metadata") or {}, default=str
                )
        self._write(trace.trace_id)

    def on_span_start(self, span: Span[Any]) -> None:
        return None

    def on_span_end(self, span: Span[Any]) -> None:
        exported = span.span_data.export()
        kind, name = str(exported.get("type")), span_name(exported)
        if len(json.dumps(exported, default=str)) > MAX_FIELD_CHARS:  # only long ones are walked
            exported = _shorten(exported)
        inputs: dict[str, str] = {}
        items = exported.pop("input", None) if kind == "generation" else None
        if isinstance(items, list):
            texts = [canonical(item) for item in items]
            refs = [input_hash(text) for text in texts]
            inputs = dict(zip(refs, texts, strict=True))
            exported[INPUT_REF] = refs
        elif items is not None:
            exported["input"] = items
        row = {
            "span_id": span.span_id,
            "parent_id": span.parent_id,
            "kind": kind,
            "name": name,
            "started_at": span.started_at,
            "ended_at": span.ended_at,
            "data": exported,
            "error": json.dumps(span.error, default=str) if span.error else None,
        }
        with self._lock:
            self._spans.setdefault(span.trace_id, []).append(row)
            self._inputs.setdefault(span.trace_id, {}).update(inputs)

    def _write(self, trace_id: str) -> None:
        with self._lock:
            trace = self._traces.pop(trace_id, None)
            spans = self._spans.pop(trace_id, [])
            inputs = self._inputs.pop(trace_id, {})
            sink: Sink = self._routes.pop(trace_id, self._db)
        if trace is None:
            return
        metadata = json.loads(trace["metadata_json"])
        trace["cycle_ts"] = metadata.get("cycle_ts")
        trace["started_at"] = min((s["started_at"] for s in spans if s["started_at"]), default=None)
        trace["ended_at"] = max((s["ended_at"] for s in spans if s["ended_at"]), default=None)
        trace["spans"] = encode_spans(trace["started_at"], spans) if trace["started_at"] else None
        trace["input_hashes"] = json.dumps(sorted(inputs)) if inputs else None
        sink.append_values((TraceRecord, trace))
        if inputs:
            sink.append_once(
                *((SpanInput, {"hash": key, "item_json": text}) for key, text in inputs.items())
            )

    def force_flush(self) -> None:
        with self._lock:
            pending = list(self._traces)
        for trace_id in pending:
            self._write(trace_id)

    def shutdown(self) -> None:
        self.force_flush()
