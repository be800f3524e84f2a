"""The shadow research: every arm measured on closed candles, per position, by regime."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autotrader.db import Database
from autotrader.exchange.candles import Candle, load_candles
from autotrader.research.arms import ARM_PRESETS, arm_of
from autotrader.research.choice import CASH, Estimate, choose, estimates
from autotrader.research.regime import POOLED, SHOCK_THRESHOLD, regime_of, shock
from autotrader.research.shadow import Book, Position, advance, position_reward
from autotrader.research.shadow_store import DISCOUNT, POSITION_HALF_LIFE, fold
from autotrader.schemas import (
    Breakout,
    BreakoutParams,
    Hold,
    HoldParams,
    MaCrossover,
    MaCrossoverParams,
    Strategy,
)
from autotrader.tools.strategy import strategy_signal
from tests.helpers import harness, run_replay

DATA = Path(__file__).parent / "data"
STEP = 60_000
COST = Decimal("0.0015")
NOW = datetime(2025, 1, 1, tzinfo=UTC)


def _candles(closes: list[float]) -> list[Candle]:
    return [Candle(i * STEP, c, c, c, c, 1.0) for i, c in enumerate(closes)]


def _position(arm: str, regime: str, reward: float) -> Position:
    return Position(arm, regime, 0, Decimal(1), 1, Decimal(1), reward)


ARMS: dict[str, Strategy] = {
    "ma": MaCrossover(policy_id="ma_crossover", params=MaCrossoverParams(fast=2, slow=4)),
    "breakout": Breakout(policy_id="breakout", params=BreakoutParams(lookback=5)),
}


@settings(max_examples=60, deadline=None)
@given(
    closes=st.lists(st.floats(50, 150), min_size=8, max_size=60),
    cut=st.integers(0, 60),
    future=st.lists(st.floats(1, 1000), min_size=1, max_size=10),
)
def test_shadow_outcomes_never_read_a_candle_closing_after_now(
    closes: list[float], cut: int, future: list[float]
) -> None:
    candles = _candles(closes + future)
    now_ms = min(cut, len(closes)) * STEP  # the candles of `closes` before the cut have closed
    known = [c for c in candles if c.ts + STEP <= now_ms]
    kwargs = {"now_ms": now_ms, "step_ms": STEP, "window": 5, "one_way_cost": COST}
    with_future, positions = advance({}, ARMS, candles, **kwargs)  # type: ignore[arg-type]
    without, expected = advance({}, ARMS, known, **kwargs)  # type: ignore[arg-type]
    assert (with_future, positions) == (without, expected)
    assert all(p.exit_ts <= now_ms and p.entry_ts < p.exit_ts for p in positions)
    assert all(b.seen is None or b.seen + STEP <= now_ms for b in with_future.values())


def _walk(arm: str, closes: list[float], window: int) -> tuple[dict[str, Book], list[Position]]:
    """One arm's book over all of `closes`, every candle closed."""
    return advance(
        {},
        {arm: ARMS[arm]},
        _candles(closes),
        now_ms=len(closes) * STEP,
        step_ms=STEP,
        window=window,
        one_way_cost=COST,
    )


def test_a_position_earns_entry_to_exit_net_of_both_sides_costs() -> None:
    # Breakout over 5 candles: 12 breaks the high of 10 (LONG at 12), 11 stays inside the range
    # (KEEP), 8 breaks the low (FLAT at 8); then 13 breaks out again (LONG), 7 exits at 7.
    closes = [10.0] * 5 + [12.0, 11.0, 8.0, 13.0, 7.0]
    books, positions = _walk("breakout", closes, window=6)
    assert [(p.entry_price, p.exit_price) for p in positions] == [
        (Decimal(12), Decimal(8)),
        (Decimal(13), Decimal(7)),
    ]
    # 8 x 0.9985 / (12 x 1.0015) - 1 = 7.988 / 12.018 - 1: both sides pay 0.15%
    assert positions[0].reward == pytest.approx(8 * 0.9985 / (12 * 1.0015) - 1, abs=1e-12)
    assert positions[0].reward == pytest.approx(-0.3353303378, abs=1e-9)
    assert position_reward(Decimal(100), Decimal(100), COST) == pytest.approx(-0.0029955, abs=1e-7)
    assert books["breakout"] == Book("breakout", 9 * STEP, long=False)


def test_a_stance_that_leaves_the_book_unchanged_is_no_experiment() -> None:
    # MA 2/4 stays LONG all the way up: one position is entered and none closed.
    closes = [float(10 + i) for i in range(12)]
    books, positions = _walk("ma", closes, window=5)
    assert positions == [] and books["ma"].long and books["ma"].entry_price == Decimal(14)


def test_posteriors_are_conditioned_on_the_regime_an_arm_entered_in() -> None:
    positions = [_position("breakout:60", "up-mid", 0.004) for _ in range(12)]
    positions += [_position("breakout:60", "down-mid", -0.004) for _ in range(12)]
    cells, _ = fold({}, positions, NOW)
    arms = list(ARM_PRESETS)
    up, down = estimates(cells, arms, "up-mid"), estimates(cells, arms, "down-mid")
    assert up["breakout:60"].has_edge and not down["breakout:60"].has_edge
    assert choose(up, holding=None, one_way_cost=0.0015)[0] == "breakout:60"
    assert choose(down, holding=None, one_way_cost=0.0015) == [CASH]
    assert cells[("breakout:60", POOLED)].count == 24


def test_evidence_halves_after_half_life_of_the_arms_own_positions() -> None:
    cells, _ = fold({}, [_position("ma_crossover:5-20", "up-low", 0.01)], NOW)
    later = [_position("ma_crossover:5-20", "down-high", 0.0)] * POSITION_HALF_LIFE
    aged, _ = fold(cells, later, NOW)
    assert aged[("ma_crossover:5-20", "up-low")].weight == pytest.approx(0.5)
    assert pytest.approx(0.5) == DISCOUNT**POSITION_HALF_LIFE
    other, _ = fold(cells, [_position("breakout:20", "up-low", 0.0)] * 50, NOW)
    assert other[("ma_crossover:5-20", "up-low")].weight == 1.0  # another arm's trades: no


def test_the_arm_holding_a_position_keeps_it_inside_the_no_trade_band() -> None:
    found = {
        "breakout:60": Estimate(-0.001, 0.001, 10, 10),  # a small doubt, under one side's cost
        "ma_crossover:20-50": Estimate(0.01, 0.001, 10, 10),
        CASH: Estimate(0.0, 0.0, 0, 0),
    }
    assert choose(found, holding="breakout:60", one_way_cost=0.0015) == ["breakout:60"]
    found["breakout:60"] = Estimate(-0.002, 0.001, 10, 10)  # past the band: the best edge now
    assert choose(found, holding="breakout:60", one_way_cost=0.0015) == ["ma_crossover:20-50"]


def test_no_edge_after_costs_means_cash() -> None:
    found = {"breakout:20": Estimate(0.0004, 0.001, 30, 30), CASH: Estimate(0.0, 0.0, 0, 0)}
    assert choose(found, holding=None, one_way_cost=0.0015) == [CASH]  # within its own noise


def test_cash_is_the_flat_stance_and_the_hold_policy_lands_there() -> None:
    cash = Hold(policy_id="hold", params=HoldParams())
    assert arm_of(cash) == CASH and ARM_PRESETS[CASH] == cash
    assert strategy_signal(cash, _candles([10.0, 11.0])).stance == "FLAT"


def _shocks(name: str) -> list[tuple[datetime, float | None]]:
    candles = load_candles(DATA / name).candles
    closes = [c.close for c in candles]
    return [
        (datetime.fromtimestamp((c.ts) / 1000, UTC), shock(closes[: i + 1]))
        for i, c in enumerate(candles)
    ]


@pytest.mark.parametrize(
    ("name", "crash"),
    [
        ("binance_ETHUSDT_1h_2020-03-01_2020-03-15.csv.gz", datetime(2020, 3, 12, 10, tzinfo=UTC)),
        (
            "binance_BTCUSDT_5m_2023-03-09_2023-03-10.csv.gz",
            datetime(2023, 3, 9, 18, 30, tzinfo=UTC),
        ),
    ],
)
def test_the_shock_signal_fires_on_real_crashes_and_not_before(name: str, crash: datetime) -> None:
    values = _shocks(name)
    fired = [ts for ts, value in values if value is not None and value > SHOCK_THRESHOLD]
    calm = [value for ts, value in values if value is not None and ts < crash]
    assert fired and fired[0] == crash
    assert len(calm) > 100 and max(calm) < SHOCK_THRESHOLD - 1  # the calmer stretch before it


def test_the_regime_is_a_trend_sign_and_a_volatility_tercile() -> None:
    rising = [100.0 * 1.001**i * (1 + 0.0005 * (-1) ** i) for i in range(300)]
    assert regime_of(rising[:100]) is None  # too few candles to say
    assert regime_of(rising) is not None and regime_of(rising).startswith("up-")  # type: ignore[union-attr]
    calm_then_wild = [100.0 * (1 + (0.02 if i >= 290 else 0.0005) * (-1) ** i) for i in range(300)]
    assert regime_of(calm_then_wild).endswith("-high")  # type: ignore[union-attr]
    falling = list(reversed(rising))
    assert regime_of(falling).startswith("down-")  # type: ignore[union-attr]


def test_a_replay_moves_every_arms_book_to_the_last_closed_candle(tmp_path: Path) -> None:
    path = tmp_path / "shadow.db"
    run_replay(path, hours=3, start=datetime(2025, 9, 20, tzinfo=UTC))
    with sqlite3.connect(path) as raw:
        last_cycle = raw.execute("SELECT max(cycle_ts) FROM cycles").fetchone()[0]
        books = raw.execute("SELECT arm, last_candle_ts FROM shadow_books").fetchall()
        positions = raw.execute("SELECT count(*), max(exit_ts) FROM shadow_positions").fetchone()
    assert {arm for arm, _ in books} == set(ARM_PRESETS) - {CASH}
    last = datetime.fromisoformat(last_cycle)
    for _, seen in books:  # the newest candle closed by the last cycle, and none after it
        assert (
            last - timedelta(minutes=10)
            < datetime.fromisoformat(seen)
            <= last - timedelta(minutes=5)
        )
    assert positions[0] > 10 and datetime.fromisoformat(positions[1]) <= last  # the backfill


async def test_the_choice_reads_each_arms_whole_record_and_the_brief_keeps_its_regimes(
    db: Database,
) -> None:
    rig = harness(db)
    await rig.cycle()
    assert rig.last is not None
    rig.lab.measure(rig.last.audit, rig.clock.now())  # the books run over 1,000 closed candles
    rig.last.audit.flush(db)
    view = rig.lab.view(rig.clock.now())
    assert view.regime in view.by_regime
    traded = [arm for arm, e in view.current.items() if arm != CASH and e.pooled > 0]
    assert traded and all(view.current[arm].count == view.current[arm].pooled for arm in traded)
    here = view.by_regime[view.regime]
    assert any(here[arm].count < here[arm].pooled for arm in traded)  # the cells still split it
    # The brief gives one count where the choice's two are one, and both in the regime rows.
    arms = view.arms()
    assert all("n_all" not in arm for arm in arms.values())
    assert all(arms[arm]["n"] == view.current[arm].pooled for arm in traded)
    assert "n_all" in view.state()["regime_columns"]
