"""Measuring experiments: what the position a proposal leaves us in earned over its horizon.

Spot trading is long or flat. A BUY leaves the account long, a SELL flat, a HOLD as it was; the
reward is that exposure times the market's return over the horizon, less one side's fee and
slippage when the proposal trades. `excess` is the reward relative to simply holding the asset.
The entry price is the last close the agent saw when it decided; the exit price is the close of
the candle that closed at entry + horizon, read only once that candle has closed (measurement
runs at a later cycle on the same feed, so it cannot look ahead).
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from autotrader.clock import to_ms
from autotrader.db import Database
from autotrader.exchange.base import MarketData
from autotrader.exchange.candles import Candle
from autotrader.exchange.feeds import price_of
from autotrader.research.store import MeasuredOutcome, due_experiments

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
    """The newest candle that closed at or before `due`; None if the feed has none."""
    closes = [c.ts + step_ms for c in candles]
    index = bisect_right(closes, to_ms(due)) - 1
    if index < 0:
        return None
    candle = candles[index]
    assert candle.ts + step_ms <= to_ms(now), "an outcome may only use candles closed by now"
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
) -> list[MeasuredOutcome]:
    """The outcomes of every experiment of `scope` whose horizon has passed by `now`."""
    due = due_experiments(db, scope, now)
    if not due:
        return []
    oldest = min(e.due_ts for e in due)
    needed = int((to_ms(now) - to_ms(oldest)) // step_ms) + 2
    candles = market.ohlcv(timeframe, min(1000, max(needed, 2)))
    outcomes: list[MeasuredOutcome] = []
    for experiment in due:
        candle = exit_candle(candles, step_ms, experiment.due_ts, now)
        if candle is None or candle.ts + step_ms <= to_ms(experiment.entry_ts):
            continue  # the feed no longer reaches back that far; leave it open
        exit_price = price_of(candle.close)
        result = outcome_of(
            experiment.action, experiment.exposure, experiment.entry_price, exit_price, one_way_cost
        )
        outcomes.append(
            MeasuredOutcome(
                experiment.id,
                experiment.scope,
                experiment.arm,
                exit_price,
                result.market_return,
                result.reward,
                result.excess,
            )
        )
    return outcomes
