"""The audit trail's tables as SQLModel classes (the newest schema version).

The DDL that creates and upgrades them lives in `migrations.py`; a test checks the two agree.
Money columns are DecimalText, times are UtcTimestamp (UTC ISO-8601 text). `plan_id` and
`proposal_id` are the ids of the PLANNER and TRADER decisions of the row's own cycle (trace):
`decision_links` names them, and every insert fills them from the row's trace_id.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import ClassVar

from sqlmodel import Field, SQLModel

from autotrader.db.types import DecimalText, UtcTimestamp

# --- version 1: the seed's tables ---


class Decision(SQLModel, table=True):
    """One model output (or its logged fallback), exactly the schema's JSON in payload_json."""

    __tablename__ = "decisions"
    decision_links: ClassVar[dict[str, str]] = {"plan_id": "PLANNER", "proposal_id": "TRADER"}
    id: int | None = Field(default=None, primary_key=True)
    ts_utc: datetime = Field(sa_type=UtcTimestamp)
    agent: str  # PLANNER | TRADER | JUDGE
    trace_id: str
    payload_json: str
    plan_id: int | None = None  # the PLANNER row of this cycle (None on the PLANNER row)
    proposal_id: int | None = None  # the TRADER row (on the JUDGE row)
    # version 3: what produced it, so a change of model or prompt shows in the data.
    model: str | None = None
    prompt_hash: str | None = None
    fallback_reason: str | None = None


class Trade(SQLModel, table=True):
    """A fill, once: idempotency_key is unique, so a retried cycle cannot book it twice."""

    __tablename__ = "trades"
    decision_links: ClassVar[dict[str, str]] = {"proposal_id": "TRADER"}
    id: int | None = Field(default=None, primary_key=True)
    ts_utc: datetime = Field(sa_type=UtcTimestamp)
    side: str  # BUY | SELL
    qty: Decimal = Field(sa_type=DecimalText)
    price: Decimal = Field(sa_type=DecimalText)
    fee: Decimal = Field(sa_type=DecimalText)
    order_id: str | None = None
    idempotency_key: str = Field(unique=True)
    proposal_id: int | None = None
    status: str
    # version 2
    symbol: str = ""
    client_order_id: str | None = None
    fee_asset: str = "USDT"
    trace_id: str | None = None
    # version 4
    run_id: str | None = None


class PortfolioSnapshot(SQLModel, table=True):
    """Balances marked to market after a cycle: the seed's USDT and BTC columns (0 when the
    account holds none), every asset in balances_json, PnL in the quote asset."""

    __tablename__ = "portfolio"
    id: int | None = Field(default=None, primary_key=True)
    ts_utc: datetime = Field(sa_type=UtcTimestamp)
    balance_usdt: Decimal = Field(sa_type=DecimalText)
    balance_btc: Decimal = Field(sa_type=DecimalText)
    unrealized_pnl_usdt: Decimal = Field(sa_type=DecimalText)
    realized_pnl_usdt: Decimal = Field(sa_type=DecimalText)
    balances_json: str
    # version 2
    symbol: str = ""
    price: Decimal | None = Field(default=None, sa_type=DecimalText)
    equity: Decimal | None = Field(default=None, sa_type=DecimalText)
    # version 4
    run_id: str | None = None


class MemoryEntry(SQLModel, table=True):
    """Append-only notes the agent keeps; the newest row of a key is its current value."""

    __tablename__ = "memory"
    id: int | None = Field(default=None, primary_key=True)
    ts_utc: datetime = Field(sa_type=UtcTimestamp)
    key: str
    value_json: str


# --- version 2: execution ---


class Order(SQLModel, table=True):
    """An order's client id, written before the venue sees the order (persist before send)."""

    __tablename__ = "orders"
    decision_links: ClassVar[dict[str, str]] = {"proposal_id": "TRADER"}
    id: int | None = Field(default=None, primary_key=True)
    created_ts: datetime = Field(sa_type=UtcTimestamp)
    updated_ts: datetime = Field(sa_type=UtcTimestamp)
    symbol: str
    side: str
    qty: Decimal = Field(sa_type=DecimalText)
    client_order_id: str = Field(unique=True)
    idempotency_key: str = Field(unique=True)
    trace_id: str | None = None
    proposal_id: int | None = None
    # NEW (persisted, not sent) | PENDING (sent, outcome not known) | FILLED | REJECTED
    # (refusal proven) | UNKNOWN (looked up, not resolvable yet)
    status: str
    venue_order_id: str | None = None
    error: str | None = None
    # version 6
    max_cost: Decimal | None = Field(default=None, sa_type=DecimalText)  # a quote-sized buy
    sends: int = 0  # attempts to send it: at most two (one resend after a crash)


class PaperAccount(SQLModel, table=True):
    """The paper venue's balances (its cost basis lives in the ledger, as for a real venue)."""

    __tablename__ = "paper_accounts"
    account: str = Field(primary_key=True)
    balances_json: str
    updated_ts: datetime = Field(sa_type=UtcTimestamp)


class PaperFill(SQLModel, table=True):
    """The paper venue's record of an order, found again by client id after a restart."""

    __tablename__ = "paper_fills"
    id: int | None = Field(default=None, primary_key=True)
    ts: datetime = Field(sa_type=UtcTimestamp)
    account: str
    symbol: str
    side: str
    qty: Decimal = Field(sa_type=DecimalText)
    price: Decimal = Field(sa_type=DecimalText)
    fee: Decimal = Field(sa_type=DecimalText)
    fee_asset: str
    client_order_id: str = Field(unique=True)
    order_id: str = Field(unique=True)
    # version 10: False while the order waits for its fill time (`ts`, a replay's next open)
    settled: bool = True


class Experiment(SQLModel, table=True):
    """One proposal under a plan, treated as an experiment and measured after its horizon."""

    __tablename__ = "experiments"
    decision_links: ClassVar[dict[str, str]] = {"plan_id": "PLANNER", "proposal_id": "TRADER"}
    id: str = Field(primary_key=True)
    scope: str  # the run (replay) or the market (live) whose memory it belongs to
    created_ts: datetime = Field(sa_type=UtcTimestamp)
    trace_id: str
    policy_id: str
    arm: str
    params_json: str
    hypothesis: str
    confidence: float
    explore: bool
    action: str  # BUY | SELL | HOLD
    exposure: float  # 1 if the proposal leaves the account long, 0 if flat
    qty: Decimal = Field(sa_type=DecimalText)
    executed: bool
    entry_ts: datetime = Field(sa_type=UtcTimestamp)
    entry_price: Decimal = Field(sa_type=DecimalText)
    due_ts: datetime = Field(sa_type=UtcTimestamp)
    status: str  # OPEN | MEASURED | UNMEASURABLE
    exit_price: Decimal | None = Field(default=None, sa_type=DecimalText)
    market_return: float | None = None
    reward: float | None = None
    excess_return: float | None = None
    measured_ts: datetime | None = Field(default=None, sa_type=UtcTimestamp)
    # version 5 (ids of the cycle's PLANNER and TRADER decisions)
    plan_id: int | None = None
    proposal_id: int | None = None
    # version 8 (the exit candle's close; why it was measured late, or could not be)
    exit_ts: datetime | None = Field(default=None, sa_type=UtcTimestamp)
    note: str | None = None


class ArmAggregate(SQLModel, table=True):
    """Running, discounted reward sums of one arm: read_posteriors costs O(arms), not O(rows)."""

    __tablename__ = "posteriors"
    scope: str = Field(primary_key=True)
    arm: str = Field(primary_key=True)
    policy_id: str
    weight: float
    total: float
    total_sq: float
    count: int
    last_ts: datetime = Field(sa_type=UtcTimestamp)


# --- version 3: the local trace store ---


class TraceRecord(SQLModel, table=True):
    """One SDK trace (one cycle): its workflow, the run it belongs to, its metadata."""

    __tablename__ = "traces"
    trace_id: str = Field(primary_key=True)
    workflow_name: str
    group_id: str | None = None
    metadata_json: str
    started_at: str | None = None
    ended_at: str | None = None
    # version 11: compact spans. The cycle time the trace is kept by (TRACE_RETENTION_DAYS); its
    # spans, zlib-compressed (db/span_store.py; NULL: its spans are rows of `spans`, as before
    # version 11); the generation input items they refer to by hash (JSON list).
    cycle_ts: str | None = None
    spans: bytes | None = None
    input_hashes: str | None = None


class SpanInput(SQLModel, table=True):
    """One generation input item, stored once however many spans (turns, cycles) send it."""

    __tablename__ = "span_inputs"
    hash: str = Field(primary_key=True)
    item_json: str


class SpanRecord(SQLModel, table=True):
    """One SDK span (agent, generation, function, handoff, guardrail) with its exported data: a
    row of its own before version 11; since then decoded from its trace's `spans` (never added
    to a session)."""

    __tablename__ = "spans"
    span_id: str = Field(primary_key=True)
    trace_id: str
    parent_id: str | None = None
    kind: str
    name: str
    started_at: str | None = None
    ended_at: str | None = None
    data_json: str
    error_json: str | None = None


# --- version 4: the loop ---


class Run(SQLModel, table=True):
    """One start of the agent: what it ran on, and how far it got (a replay can resume)."""

    __tablename__ = "runs"
    run_id: str = Field(primary_key=True)
    fingerprint: str
    started_at: datetime = Field(sa_type=UtcTimestamp)
    finished_at: datetime | None = Field(default=None, sa_type=UtcTimestamp)
    status: str  # RUNNING | STOPPED | DONE | FAILED
    mode: str
    feed: str
    symbol: str
    timeframe: str
    provider: str
    models_json: str
    seed: int
    scope: str
    paper_account: str | None = None
    sim_start: datetime | None = Field(default=None, sa_type=UtcTimestamp)
    sim_end: datetime | None = Field(default=None, sa_type=UtcTimestamp)


class Cycle(SQLModel, table=True):
    """One wake-up of the loop: what was decided, what happened, how long it took."""

    __tablename__ = "cycles"
    id: int | None = Field(default=None, primary_key=True)
    run_id: str
    trace_id: str = Field(unique=True)
    cycle_ts: datetime = Field(sa_type=UtcTimestamp)
    wall_ts: datetime = Field(sa_type=UtcTimestamp)
    status: str  # OPEN (decided, not finished) | OK | ERROR
    plan_mode: str | None = None
    arm: str | None = None
    explore: bool | None = None
    action: str | None = None
    qty: Decimal | None = Field(default=None, sa_type=DecimalText)
    verdict: str | None = None
    executed: bool = False
    fill_price: Decimal | None = Field(default=None, sa_type=DecimalText)
    equity: Decimal | None = Field(default=None, sa_type=DecimalText)
    wakeup_secs: int
    model_calls: int = 0
    duration_ms: float
    fallbacks: int = 0
    guardrail: str | None = None
    error: str | None = None
    price: Decimal | None = Field(default=None, sa_type=DecimalText)  # version 6
    # version 7: the cycle's model calls, summed, and the first fallback's reason
    chars_sent: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    model_ms: float = 0.0
    reasks: int = 0
    fallback_reason: str | None = None
    # version 9: the close of the newest closed candle the cycle decided on
    candle_ts: datetime | None = Field(default=None, sa_type=UtcTimestamp)


# --- version 12: shadow research (research/shadow.py) ---


class ShadowBook(SQLModel, table=True):
    """The position one arm's rule holds after the newest closed candle it has seen."""

    __tablename__ = "shadow_books"
    scope: str = Field(primary_key=True)
    arm: str = Field(primary_key=True)
    last_candle_ts: datetime = Field(sa_type=UtcTimestamp)  # open time of that candle
    long: bool
    entry_price: Decimal | None = Field(default=None, sa_type=DecimalText)
    entry_ts: datetime | None = Field(default=None, sa_type=UtcTimestamp)
    entry_regime: str | None = None


class ShadowPosition(SQLModel, table=True):
    """One position an arm's rule held, entry to exit, and its return net of both sides' costs."""

    __tablename__ = "shadow_positions"
    id: int | None = Field(default=None, primary_key=True)
    scope: str
    arm: str
    regime: str  # the regime when it was entered
    entry_ts: datetime = Field(sa_type=UtcTimestamp)
    entry_price: Decimal = Field(sa_type=DecimalText)
    exit_ts: datetime = Field(sa_type=UtcTimestamp)
    exit_price: Decimal = Field(sa_type=DecimalText)
    reward: float


class RegimeAggregate(SQLModel, table=True):
    """Discounted reward sums of one arm's positions entered in one regime ('all': pooled)."""

    __tablename__ = "regime_posteriors"
    scope: str = Field(primary_key=True)
    arm: str = Field(primary_key=True)
    regime: str = Field(primary_key=True)
    weight: float
    total: float
    total_sq: float
    count: int
    last_ts: datetime = Field(sa_type=UtcTimestamp)
