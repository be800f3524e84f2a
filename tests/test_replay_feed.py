"""The replay feed never shows a candle that has not closed at the clock's now."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autotrader.clock import to_ms
from autotrader.errors import DataError, VenueUnavailable
from autotrader.tools.market import get_ohlcv
from autotrader.tools.strategy import compute_indicators
from tests.helpers import real_candles, replay_at


def test_replay_never_returns_an_open_candle() -> None:
    feed, clock = replay_at(500)
    clock.advance_to(clock.now() + timedelta(minutes=2, seconds=30))  # inside candle 501
    newest = feed.ohlcv("5m", 10)[-1]
    assert newest == real_candles()[500]
    assert newest.ts + 300_000 <= to_ms(clock.now())


@given(index=st.integers(min_value=1, max_value=8000), offset_s=st.integers(0, 299))
def test_no_candle_closing_after_now_is_ever_visible(index: int, offset_s: int) -> None:
    feed, clock = replay_at(index)
    clock.advance_to(clock.now() + timedelta(seconds=offset_s))
    now_ms = to_ms(clock.now())
    window = feed.ohlcv("5m", 100)
    assert all(candle.ts + 300_000 <= now_ms for candle in window)
    assert window[-1] == real_candles()[index]  # and nothing closed is withheld


def test_a_strategy_cannot_see_the_next_candle() -> None:
    """Indicators computed at candle t equal those computed on data cut at t by hand."""
    feed, _ = replay_at(2000)
    seen = compute_indicators(get_ohlcv(feed, "BTC/USDT", "5m", 100)["ohlcv"])
    cut = [list(c) for c in real_candles()[1901:2001]]
    assert seen == compute_indicators(cut)
    future = [list(c) for c in real_candles()[1902:2002]]
    assert seen != compute_indicators(future)


def test_get_ohlcv_returns_closed_candles_oldest_first_as_lists() -> None:
    feed, _ = replay_at(300)
    rows = get_ohlcv(feed, "BTC/USDT", "5m", 50)["ohlcv"]
    assert len(rows) == 50
    assert [row[0] for row in rows] == sorted(row[0] for row in rows)
    assert rows[-1] == list(real_candles()[300])
    assert all(len(row) == 6 for row in rows)


def test_get_ohlcv_refuses_another_symbol() -> None:
    feed, _ = replay_at(300)
    with pytest.raises(DataError, match="serves BTC/USDT, not ETH/USDT"):
        get_ohlcv(feed, "ETH/USDT", "5m", 10)


def test_fifteen_minute_view_only_shows_closed_fifteen_minute_candles() -> None:
    feed, _ = replay_at(4)  # 00:25 close: the 00:15 fifteen-minute candle is still open
    rows = feed.ohlcv("15m", 10)
    assert [row.ts for row in rows] == [real_candles()[0].ts]
    assert rows[0].close == real_candles()[2].close


def test_fill_price_is_the_next_candles_open() -> None:
    feed, _ = replay_at(700)
    assert feed.fill_price("BUY", Decimal("0.001")) == Decimal(repr(real_candles()[701].open))
    assert feed.last_price() == Decimal(repr(real_candles()[700].close))


def test_fill_price_after_the_data_ends_is_unavailable() -> None:
    feed, _ = replay_at(len(real_candles()) - 1)
    with pytest.raises(VenueUnavailable, match="replay data has ended"):
        feed.fill_price("BUY", Decimal(1))
