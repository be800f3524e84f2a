"""Measuring experiments: what the position a proposal leaves us in earned over its horizon.

Spot trading is long or flat. A BUY leaves the account long, a SELL flat, a HOLD as it was; the
reward is that exposure times the market's return over the horizon, less one side's fee and
slippage when the proposal trades. `excess` is the reward relative to simply holding the asset.
The entry price is the last close the agent saw when it decided; the exit price is the close of
the first candle that closes at or after entry + horizon, read only once that candle has closed
(measurement runs at a later cycle on the same feed, so it cannot look ahead). An exchange
outage can leave no candle at the due time: the first candle after the gap stands in (the gap is
noted) unless the gap is longer than the horizon itself, and an experiment whose due time the
feed no longer reaches is closed as unmeasurable with its reason, so no experiment stays open.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from autotrader.clock import from_ms, to_ms
from autotrader.db import Database
from autotrader.exchange.base import MarketData
from autotrader.exchange.candles import Candle
from autotrader.exchange.feeds import price_of
from autotrader.research.store import (
    DueExperiment,
    MeasuredOutcome,
    Unmeasurable,
    due_experiments,
)

TRADES = {"BUY": True, "SELL": True, "HOLD": False}


@dataclass(frozen=True)
class Outcome:
    market_return: float
    reward: float
    excess: float


def outcome_of(
    action: str, exposure: float, entry: Decimal, exit_: Decimal, one_way_cost: float
) -> Outcome:
    market_return = float(exit_ / entry - 1)
    reward = exposure * market_return - (one_way_cost if TRADES[action] else 0.0)
    return Outcome(market_return, reward, reward - market_return)


def exit_candle(candles: list[Candle], step_ms: int, due: datetime, now: datetime) -> Candle | None:
    """The first candle that closed at or after `due`; None while none has closed yet."""
    assert due <= now, "an outcome is measured only once it is due"
    closes = [c.ts + step_ms for c in candles]
    index = bisect_left(closes, to_ms(due))
    if index == len(candles):
        return None
    candle = candles[index]
    assert closes[index] <= to_ms(now), "an outcome may only use candles closed by now"
    return candle


def due_outcomes(
    db: Database,
    market: MarketData,
    *,
    scope: str,
    timeframe: str,
    step_ms: int,
    now: datetime,
    one_way_cost: float,
) -> list[MeasuredOutcome | Unmeasurable]:
    """What became of every experiment of `scope` whose horizon has passed by `now`: measured,
    or closed as unmeasurable; an experiment whose exit candle has not closed yet waits."""
    due = due_experiments(db, scope, now)
    if not due:
        return []
    oldest = min(e.due_ts for e in due)
    needed = int((to_ms(now) - to_ms(oldest)) // step_ms) + 2
    candles = market.ohlcv(timeframe, min(1000, max(needed, 2)))
    results: list[MeasuredOutcome | Unmeasurable] = []
    for experiment in due:
        result = _measure(experiment, candles, step_ms, now, one_way_cost)
        if result is not None:
            results.append(result)
    return results


def _measure(
    experiment: DueExperiment,
    candles: list[Candle],
    step_ms: int,
    now: datetime,
    one_way_cost: float,
) -> MeasuredOutcome | Unmeasurable | None:
    due = experiment.due_ts
    if not candles or candles[0].ts > to_ms(due):
        start = "no candles" if not candles else f"candles from {from_ms(candles[0].ts):%F %H:%M}"
        return Unmeasurable(
            experiment.id,
            experiment.scope,
            f"the feed no longer reaches its due time {due:%F %H:%M} ({start})",
        )
    candle = exit_candle(candles, step_ms, due, now)
    if candle is None:
        return None  # the candle holding the due time has not closed yet
    closed = from_ms(candle.ts + step_ms)
    note = None
    if candle.ts > to_ms(due):  # no candle spans the due time: the feed has a gap there
        late = closed - due
        if late > due - experiment.entry_ts + timedelta(milliseconds=step_ms):
            return Unmeasurable(
                experiment.id,
                experiment.scope,
                f"no candle from {due:%F %H:%M} to {from_ms(candle.ts):%F %H:%M} "
                f"(a feed gap of {late}, longer than the horizon)",
            )
        note = f"measured after a feed gap: the exit candle closed {late} after the due time"
    exit_price = price_of(candle.close)
    result = outcome_of(
        experiment.action, experiment.exposure, experiment.entry_price, exit_price, one_way_cost
    )
    return MeasuredOutcome(
        experiment.id,
        experiment.scope,
        experiment.arm,
        exit_price,
        result.market_return,
        result.reward,
        result.excess,
        exit_ts=closed,
        note=note,
    )
