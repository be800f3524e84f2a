"""The JSON API's response shapes (FastAPI documents them on /docs): money and quantities as
exact decimal strings, ratios as numbers, times as UTC ISO-8601; every list of rows a page."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from autotrader.db.models import Trade
from autotrader.research import queries
from autotrader.research.arms import arm_label

Item = TypeVar("Item")


class PageOut(BaseModel, Generic[Item]):
    items: list[Item]
    total: int
    limit: int
    offset: int


class RunOut(BaseModel):
    run_id: str
    state: str  # running | stopped | finished | failed | not responding | starting
    status: str  # as stored: RUNNING | STOPPED | DONE | FAILED
    mode: str
    feed: str
    symbol: str
    timeframe: str
    provider: str
    models: dict[str, str]
    seed: int
    started_at: datetime
    finished_at: datetime | None
    sim_start: datetime | None
    sim_end: datetime | None
    cycles: int
    error_cycles: int
    trades: int
    last_cycle_ts: datetime | None
    next_wakeup: datetime | None
    total_return: float | None
    buy_and_hold: float | None


class StatusOut(BaseModel):
    """What the pages poll: a new last_cycle_id means there is something new to show."""

    run_id: str | None
    state: str
    cycles: int
    last_cycle_id: int | None
    last_cycle_ts: datetime | None
    next_wakeup: datetime | None


class PerformanceOut(BaseModel):
    """A run's result (research/metrics.py defines each figure)."""

    model_config = ConfigDict(from_attributes=True)  # read off views.Performance

    start: datetime | None
    end: datetime | None
    start_equity: Decimal | None
    final_equity: Decimal | None
    pnl: Decimal | None
    total_return: float | None
    annualised_return: float | None  # None for runs shorter than a week
    buy_and_hold: float | None
    mean_exposure: float  # time-weighted base asset value / equity
    exposure_matched: float | None  # buy & hold at mean_exposure
    against_hold: float | None  # total_return - buy_and_hold
    against_matched: float | None  # total_return - exposure_matched
    max_drawdown: float
    sharpe: float | None = Field(description="hourly returns, annualised by sqrt(8760)")
    sortino: float | None = Field(description="hourly returns, annualised by sqrt(8760)")
    trades: int
    fees: Decimal  # in the quote asset
    round_trips: int  # closed
    won: int
    win_rate: float | None
    realized_pnl: Decimal
    position: Decimal  # base asset held at the end
    position_value: Decimal | None
    last_price: Decimal | None


class OverviewOut(BaseModel):
    run: RunOut
    performance: PerformanceOut
    display: dict[str, str]  # the same figures as the overview page writes them


class TradeOut(BaseModel):
    id: int | None
    ts_utc: datetime
    side: str
    qty: Decimal
    price: Decimal
    fee: Decimal
    fee_asset: str
    symbol: str
    status: str
    trace_id: str | None
    client_order_id: str | None

    @classmethod
    def of(cls, t: Trade) -> TradeOut:
        return cls.model_validate(t, from_attributes=True)


class RoundTripOut(BaseModel):
    """Flat to flat: PnL after fees on average cost (0 and `closed` null while open)."""

    model_config = ConfigDict(from_attributes=True)  # read off metrics.RoundTrip

    opened: datetime
    closed: datetime | None
    fills: int
    qty: Decimal
    entry_price: Decimal
    exit_price: Decimal | None
    fees: Decimal
    pnl: Decimal
    net_return: float | None


class DecisionOut(BaseModel):
    agent: str
    model: str | None
    payload: dict[str, Any]
    fallback_reason: str | None


class ExperimentOut(BaseModel):
    id: str
    arm: str
    arm_label: str
    explore: bool
    hypothesis: str
    confidence: float
    action: str
    executed: bool
    status: str
    due_ts: datetime
    reward: float | None
    market_return: float | None


class CycleOut(BaseModel):
    id: int | None
    trace_id: str
    cycle_ts: datetime
    status: str
    plan_mode: str | None
    arm: str | None
    arm_label: str | None
    explore: bool | None
    action: str | None
    qty: Decimal | None
    verdict: str | None
    executed: bool
    fill_price: Decimal | None
    equity: Decimal | None
    wakeup_secs: int
    model_calls: int
    duration_ms: float
    fallbacks: int
    guardrail: str | None
    error: str | None
    price: Decimal | None
    chars_sent: int
    input_tokens: int
    output_tokens: int
    model_ms: float
    reasks: int
    fallback_reason: str | None
    decisions: list[DecisionOut]
    fills: list[TradeOut]
    experiment: ExperimentOut | None

    @classmethod
    def of(cls, detail: queries.CycleDetail) -> CycleOut:
        c, e = detail.cycle, detail.experiment
        return cls(
            **c.model_dump(),
            arm_label=arm_label(c.arm) if c.arm else None,
            decisions=[
                DecisionOut(
                    agent=d.agent,
                    model=d.model,
                    payload=d.payload,
                    fallback_reason=d.fallback_reason,
                )
                for d in detail.decisions.values()
            ],
            fills=[TradeOut.of(t) for t in detail.fills],
            experiment=None
            if e is None
            else ExperimentOut.model_validate({**e.model_dump(), "arm_label": arm_label(e.arm)}),
        )


class SpanOut(BaseModel):
    span_id: str
    parent_id: str | None
    depth: int
    kind: str
    name: str
    offset_ms: float | None
    duration_ms: float | None
    data: dict[str, Any]
    error: str | None


class TraceOut(BaseModel):
    trace_id: str
    workflow_name: str
    group_id: str | None
    metadata: dict[str, Any]
    duration_ms: float | None
    spans: list[SpanOut]


class ArmOut(BaseModel):
    """An arm with its label; outcomes and posteriors are net returns per experiment."""

    model_config = ConfigDict(from_attributes=True)  # read off arm_view.ArmRow

    arm: str
    label: str
    experiments: int
    explored: int
    measured: int
    mean_outcome: float | None
    posterior_mean: float
    low: float  # of the 95% interval
    high: float


class ResearchOut(BaseModel):
    arms: list[ArmOut]
    weekly_evaluations: list[dict[str, Any]]
    posterior_paths: dict[str, Any]  # arm -> label and [time, mean, low, high] in bp


class SeriesOut(BaseModel):
    """Chart series as columns over one `time` column (UTC seconds), at most 1,200 rows."""

    time: list[int]
    equity: list[float]
    hold: list[float]  # buy & hold, all in
    matched: list[float]  # buy & hold at the agent's mean exposure
    drawdown: list[float]  # fraction below the running peak
    exposure: list[float]  # base asset value / equity
    position: list[float]  # base asset held
    mean_exposure: float


class MarketOut(BaseModel):
    source: str
    step_secs: int
    candles: list[list[float]]  # [time, open, high, low, close], at most views.MAX_CANDLES
    fills: list[dict[str, Any]]
    position: dict[str, list[float]]  # `time` and `value` columns
