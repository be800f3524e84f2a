"""Indicators agree with TA-Lib on real candles and degrade to None, never NaN or a crash."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import talib

from autotrader.exchange.candles import Candle
from autotrader.schemas import (
    Breakout,
    BreakoutParams,
    MaCrossover,
    MaCrossoverParams,
    RsiMeanReversion,
    RsiMeanReversionParams,
)
from autotrader.tools.strategy import compute_indicators, rsi, sma, strategy_signal, volatility
from tests.helpers import real_candles

WINDOWS = range(100, 8700, 397)  # windows spread over the whole month of real candles


@pytest.mark.parametrize("end", WINDOWS)
def test_rsi_matches_talib_on_real_candles(end: int) -> None:
    closes = [c.close for c in real_candles()[end - 100 : end]]
    assert rsi(closes, 14) == pytest.approx(talib.RSI(np.array(closes), 14)[-1], abs=1e-9)


@pytest.mark.parametrize("end", WINDOWS)
def test_moving_averages_match_talib_on_real_candles(end: int) -> None:
    closes = [c.close for c in real_candles()[end - 100 : end]]
    for period in (5, 20, 50):
        assert sma(closes, period) == pytest.approx(talib.SMA(np.array(closes), period)[-1])


def test_volatility_matches_numpy_on_real_candles() -> None:
    closes = np.array([c.close for c in real_candles()[:21]])
    expected = np.std(np.diff(np.log(closes)), ddof=1)
    assert volatility(list(closes), 20) == pytest.approx(expected)


def test_indicators_of_real_window_are_finite_and_json_safe() -> None:
    values = compute_indicators([list(c) for c in real_candles()[1000:1100]])
    assert all(v is not None for v in values.values())
    json.dumps(values, allow_nan=False)
    rsi_value = values["rsi_14"]
    assert isinstance(rsi_value, float) and 0 <= rsi_value <= 100


def _flat(n: int, volume: float = 1.0) -> list[list[float]]:
    return [[i * 300_000, 100.0, 100.0, 100.0, 100.0, volume] for i in range(n)]


def test_too_few_candles_give_nulls_not_errors() -> None:
    values = compute_indicators(_flat(5))
    assert values["rsi_14"] is None and values["ma_20"] is None and values["trend"] is None
    assert compute_indicators([])["close"] is None


def test_flat_prices_give_a_null_rsi_and_zero_volatility() -> None:
    values = compute_indicators(_flat(60))
    assert values["rsi_14"] is None
    assert values["volatility_20"] == 0.0
    assert values["trend"] == 0.0


def test_zero_volume_gives_a_null_volume_ratio() -> None:
    values = compute_indicators(_flat(60, volume=0.0))
    assert values["volume_avg_20"] == 0.0
    assert values["volume_ratio"] is None
    json.dumps(values, allow_nan=False)


def test_rsi_is_100_when_prices_only_rise() -> None:
    assert rsi([float(i) for i in range(1, 40)], 14) == 100.0


def test_infinite_inputs_are_reported_as_null() -> None:
    rows = _flat(30)
    rows[-1][4] = math.inf
    assert compute_indicators(rows)["ma_20"] is None


def _candles(closes: list[float]) -> list[Candle]:
    return [Candle(i * 300_000, c, c + 1, c - 1, c, 1.0) for i, c in enumerate(closes)]


def test_rsi_rule_goes_long_when_oversold() -> None:
    falling = _candles([100.0 - i for i in range(60)])
    rule = RsiMeanReversion(
        policy_id="rsi_mean_reversion",
        params=RsiMeanReversionParams(period=14, oversold=30, overbought=70),
    )
    assert strategy_signal(rule, falling).stance == "LONG"


def test_crossover_rule_follows_the_fast_average() -> None:
    rising = _candles([100.0 + i for i in range(60)])
    rule = MaCrossover(policy_id="ma_crossover", params=MaCrossoverParams(fast=5, slow=20))
    assert strategy_signal(rule, rising).stance == "LONG"
    assert strategy_signal(rule, list(reversed(rising))).stance == "FLAT"


def test_breakout_rule_needs_a_close_beyond_the_prior_range() -> None:
    closes = [100.0] * 30 + [105.0]
    rule = Breakout(policy_id="breakout", params=BreakoutParams(lookback=20))
    assert strategy_signal(rule, _candles(closes)).stance == "LONG"
    assert strategy_signal(rule, _candles([100.0] * 31)).stance == "KEEP"
    assert strategy_signal(rule, _candles([100.0] * 5)).stance == "KEEP"
