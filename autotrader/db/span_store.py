"""How a trace's spans are stored: compactly, in one compressed value on the trace's row.

A span keeps its kind, name, parent, timing (microseconds from the trace's start) and exported
data; its SDK id is dropped (spans are numbered within their trace). A generation's input
items are stored once each, by hash, in `span_inputs`: later turns and cycles resend the same
instructions and messages. Traces stored before schema version 11 keep their `spans` rows and
read back the same way.

The compression starts from a preset dictionary (`span_dictionary_v1.json`: the stored rows of
two cycles of the bundled replay, a HOLD and a trade), so the structure every trace repeats
costs almost nothing. A value's first byte names its format; a shipped dictionary is never
edited (a new one is a new format byte).
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select

from autotrader.db.models import SpanInput, SpanRecord, TraceRecord

INPUT_REF = "input_refs"  # a generation's data holds its input as hashes under this key
FORMAT_V1 = b"\x01"  # zlib, level 6, with dictionary v1
DICTIONARY_V1 = (Path(__file__).parent / "span_dictionary_v1.json").read_bytes()


_PRIMED_PACKER = zlib.compressobj(6, zdict=DICTIONARY_V1)  # copied: loading the dictionary
_PRIMED_UNPACKER = zlib.decompressobj(zdict=DICTIONARY_V1)  # costs more than a trace


def _compress(raw: bytes) -> bytes:
    packer = _PRIMED_PACKER.copy()
    return FORMAT_V1 + packer.compress(raw) + packer.flush()


def _decompress(stored: bytes) -> bytes:
    if stored[:1] != FORMAT_V1:
        raise ValueError(f"stored spans in an unknown format {stored[:1]!r}")
    unpacker = _PRIMED_UNPACKER.copy()
    return unpacker.decompress(stored[1:]) + unpacker.flush()


def input_hash(item_json: str) -> str:
    return hashlib.blake2b(item_json.encode(), digest_size=8).hexdigest()


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def _micros(start: datetime, moment: str | None) -> int | None:
    if moment is None:
        return None
    return (datetime.fromisoformat(moment) - start) // timedelta(microseconds=1)


def encode_spans(trace_start: str, spans: Sequence[dict[str, Any]]) -> bytes:
    """The spans (dicts with span_id, parent_id, kind, name, started_at, ended_at, data, error)
    as compressed JSON rows, their ids replaced by their position."""
    position = {span["span_id"]: index for index, span in enumerate(spans)}
    origin = datetime.fromisoformat(trace_start)
    rows = []
    for span in spans:
        start = _micros(origin, span["started_at"])
        end = _micros(origin, span["ended_at"])
        data = span["data"]
        data.pop("type", None)  # the row's kind
        rows.append(
            [
                position.get(span["parent_id"]),
                span["kind"],
                span["name"],
                start,
                None if start is None or end is None else end - start,
                data,
                span["error"],
            ]
        )
    return _compress(json.dumps(rows, separators=(",", ":"), default=str).encode())


def _iso(start: datetime, micros: int | None) -> str | None:
    return None if micros is None else (start + timedelta(microseconds=micros)).isoformat()


def decode_spans(trace: TraceRecord, inputs: dict[str, str]) -> list[SpanRecord]:
    """A compact trace's spans as SpanRecords (ids `span_<n>`), inputs put back in place."""
    assert trace.spans is not None and trace.started_at is not None
    start = datetime.fromisoformat(trace.started_at)
    decoded: list[SpanRecord] = []
    for index, row in enumerate(json.loads(_decompress(trace.spans))):
        parent, kind, name, start_us, duration_us, data, error = row
        refs = data.pop(INPUT_REF, None) if isinstance(data, dict) else None
        if refs is not None:
            data["input"] = [json.loads(inputs.get(ref, '"[input pruned]"')) for ref in refs]
        data["type"] = kind
        end_us = None if start_us is None or duration_us is None else start_us + duration_us
        decoded.append(
            SpanRecord(
                span_id=f"span_{index}",
                trace_id=trace.trace_id,
                parent_id=None if parent is None else f"span_{parent}",
                kind=kind,
                name=name,
                started_at=_iso(start, start_us),
                ended_at=_iso(start, end_us),
                data_json=json.dumps(data, default=str),
                error_json=error,
            )
        )
    return decoded


def load_spans(session: Session, trace: TraceRecord, limit: int) -> list[SpanRecord]:
    """A stored trace's spans by start time, whichever way they were stored."""
    if trace.spans is None:  # stored before version 11: a row per span
        return list(
            session.exec(
                select(SpanRecord)
                .where(SpanRecord.trace_id == trace.trace_id)
                .order_by(col(SpanRecord.started_at))
                .limit(limit)
            ).all()
        )
    hashes = json.loads(trace.input_hashes or "[]")
    inputs = {
        row.hash: row.item_json
        for row in session.exec(select(SpanInput).where(col(SpanInput.hash).in_(hashes))).all()
    }
    spans = decode_spans(trace, inputs)
    return sorted(spans, key=lambda span: span.started_at or "")[:limit]
