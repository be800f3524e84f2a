"""Boot's replay checks: the warm-up they assume is the regime's, a replay runs around candles
set aside, and a file that names no market is replayed with a warning saying so."""

from __future__ import annotations

import gzip
import sqlite3
from datetime import datetime
from pathlib import Path

from autotrader.agents.briefs import REGIME_CANDLES
from autotrader.config import BUNDLED_CANDLES, bundled_data_path
from autotrader.core.replay import WARMUP_CANDLES
from tests.helpers import run_replay

FEB_2018 = Path(__file__).parent / "data" / "freqtrade" / "BTC_USDT-1h.json"


def test_the_replay_warm_up_is_the_regime_features_window() -> None:
    assert WARMUP_CANDLES == REGIME_CANDLES


def test_a_replay_runs_around_off_grid_candles_and_says_so(tmp_path: Path) -> None:
    db = tmp_path / "feb.db"
    code, out = run_replay(db, hours=12, replay_path=FEB_2018, timeframe="1h", ohlcv_limit=50)
    assert code == 0
    assert "43 candle(s) off the 1h grid" in out and "set aside" in out
    with sqlite3.connect(db) as raw:
        stamps = [ts for (ts,) in raw.execute("SELECT cycle_ts FROM cycles")]
    assert len(stamps) == 13
    assert all(datetime.fromisoformat(ts).strftime("%M:%S.%f") == "00:00.000000" for ts in stamps)


def test_a_file_that_names_no_market_replays_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "candles.csv"
    with gzip.open(bundled_data_path(BUNDLED_CANDLES), "rt") as text:
        path.write_text("".join(next(text) for _ in range(200)))
    code, out = run_replay(tmp_path / "x.db", hours=1, replay_path=path)
    assert code == 0
    assert "candles.csv names no market; taking it as BTC/USDT" in out
