"""Candle files users bring: freqtrade's .feather and .json, the market a file names, and real
data that is not perfectly regular (Binance's hourly history after its Feb 2018 outage)."""

from __future__ import annotations

import gzip
import sys
from pathlib import Path

import pytest

from autotrader.config import BUNDLED_CANDLES, bundled_data_path
from autotrader.errors import DataError
from autotrader.exchange.candles import load_candles, named_in_file_name

FREQTRADE = Path(__file__).parent / "data" / "freqtrade"
BUNDLED = bundled_data_path(BUNDLED_CANDLES)


def _bundled_lines(count: int) -> list[str]:
    """The header and the first `count` real rows of the bundled CSV."""
    with gzip.open(BUNDLED, "rt") as text:
        return [next(text) for _ in range(count + 1)]


def test_a_freqtrade_feather_file_reads_as_the_same_candles_as_our_csv() -> None:
    feather = load_candles(FREQTRADE / "BTC_USDT-5m.feather")
    ours = load_candles(BUNDLED)
    assert feather.candles == ours.candles[:200]
    assert (feather.step_ms, feather.market, feather.timeframe) == (300_000, "BTC/USDT", "5m")


def test_a_freqtrade_json_file_reads_its_rows() -> None:
    loaded = load_candles(FREQTRADE / "BTC_USDT-1h.json")
    assert loaded.candles[0].ts == 1517961600000  # 2018-02-07T00:00Z
    assert loaded.candles[0].close == 7541.06
    assert (loaded.step_ms, loaded.market) == (3_600_000, "BTC/USDT")


def test_off_grid_candles_are_set_aside_and_reported_by_row_and_time() -> None:
    loaded = load_candles(FREQTRADE / "BTC_USDT-1h.json")
    assert loaded.step_ms == 3_600_000  # the bulk's step, not the 31-minute smallest spacing
    assert len(loaded.candles) == 140 - 43
    assert all(candle.ts % 3_600_000 == 0 for candle in loaded.candles)
    assert loaded.off_grid == [
        f"{FREQTRADE / 'BTC_USDT-1h.json'}: row 26 to row 68: 43 candle(s) off the 1h grid "
        "(2018-02-09T09:28:14.789+00:00 to 2018-02-11T03:28:14.789+00:00) set aside; "
        "the replay runs around them"
    ]
    assert len(loaded.gaps) == 1 and "row 69: 75 missing candles" in loaded.gaps[0]


def test_a_file_mostly_off_any_one_grid_is_refused(tmp_path: Path) -> None:
    minutes = (0, 5, 12, 20, 31, 39)  # no spacing and no grid holds most of the rows
    rows = [f"{m * 60_000},1,2,0.5,1,1\n" for m in minutes]
    path = tmp_path / "odd.csv"
    path.write_text(_bundled_lines(0)[0] + "".join(rows))
    with pytest.raises(DataError, match=r"off the .* grid of the rest"):
        load_candles(path)


@pytest.mark.parametrize(
    ("name", "market", "timeframe"),
    [
        ("binance_BTCUSDT_5m_2025-09-06_2025-10-06.csv.gz", "BTCUSDT", "5m"),
        ("BTC_USDT-5m.feather", "BTC/USDT", "5m"),
        ("ETH_USDT-1h.json", "ETH/USDT", "1h"),
        ("BTC_USDT_USDT-1h-futures.feather", "BTC/USDT", "1h"),
        ("candles.csv", None, None),
    ],
)
def test_the_market_and_timeframe_come_from_the_file_name(
    name: str, market: str | None, timeframe: str | None
) -> None:
    assert named_in_file_name(Path(name)) == (market, timeframe)


def test_a_header_comment_names_the_market(tmp_path: Path) -> None:
    path = tmp_path / "mine.csv"
    path.write_text("# market: ETH/USDT\n" + "".join(_bundled_lines(3)))
    assert load_candles(path).market == "ETH/USDT"


def test_a_header_comment_that_contradicts_the_file_name_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "binance_BTCUSDT_5m_x.csv"
    path.write_text("# market: ETH/USDT\n" + "".join(_bundled_lines(3)))
    with pytest.raises(DataError, match="header names ETH/USDT but its file name BTCUSDT"):
        load_candles(path)


def test_a_file_name_whose_timeframe_contradicts_the_data_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "binance_BTCUSDT_1h_x.csv"
    path.write_text("".join(_bundled_lines(3)))
    with pytest.raises(DataError, match="file name says 1h but its candles are 5m apart"):
        load_candles(path)


def test_reading_feather_without_pyarrow_is_one_line_naming_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow now raises ImportError
    with pytest.raises(DataError, match=r"needs pyarrow; install it with pip install -e '\.\["):
        load_candles(FREQTRADE / "BTC_USDT-5m.feather")


def test_unicode_digits_are_not_numbers_in_a_candle_file(tmp_path: Path) -> None:
    header, first = _bundled_lines(1)
    path = tmp_path / "c.csv"
    path.write_text(header + "\uff11" + first[1:])  # a full-width 1 in the timestamp
    with pytest.raises(DataError, match=r"c\.csv:2: not a number"):
        load_candles(path)
