"""The research loop: outcome measurement without look-ahead, posterior math, exploration at
explore_ratio, discounting, and the evaluation report."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from autotrader.clock import SimulatedClock, from_ms
from autotrader.config import load_settings
from autotrader.db import Database
from autotrader.exchange.candles import load_candles
from autotrader.exchange.feeds import ReplayFeed
from autotrader.research.outcomes import due_outcomes, exit_candle, outcome_of
from autotrader.research.posteriors import PRIOR_BETA, ArmStats, posterior
from autotrader.research.report import write_report
from autotrader.research.store import (
    MeasuredOutcome,
    NewExperiment,
    Unmeasurable,
    read_posteriors,
    write_experiment,
)
from tests.helpers import real_candles, record_outcomes, replay_at, run_replay

STEP = 300_000
T0 = datetime(2025, 9, 6, tzinfo=UTC)
DATA = Path(__file__).parent / "data"


def experiment_at(
    id_: str, entry: datetime, horizon: timedelta, price: Decimal | float
) -> NewExperiment:
    """A long experiment on breakout:20 entered at `entry`."""
    return NewExperiment(
        id=id_,
        scope="s",
        trace_id="t",
        policy_id="breakout",
        arm="breakout:20",
        params={"lookback": 20},
        hypothesis="h",
        confidence=0.6,
        explore=True,
        action="BUY",
        exposure=1.0,
        qty=Decimal("0.001"),
        executed=True,
        entry_ts=entry,
        entry_price=Decimal(repr(price)) if isinstance(price, float) else price,
        due_ts=entry + horizon,
    )


# --- outcomes: measured from candles that had closed, never later ones ---


@given(entry=st.integers(100, 8000), horizon=st.integers(1, 12), late=st.integers(0, 50))
def test_an_outcome_uses_the_candle_closing_at_its_horizon_even_when_measured_late(
    entry: int, horizon: int, late: int
) -> None:
    candles = real_candles()
    entry_close = from_ms(candles[entry].ts + STEP)
    due = entry_close + timedelta(minutes=5 * horizon)
    now = due + timedelta(minutes=5 * late)
    window = candles[: entry + horizon + late + 1]  # what a feed shows at `now`
    chosen = exit_candle(window, STEP, due, now)
    assert chosen == candles[entry + horizon]
    assert chosen.ts + STEP <= int(now.timestamp() * 1000)


def test_measuring_before_the_horizon_is_impossible() -> None:
    candles = real_candles()[:101]
    now = from_ms(candles[-1].ts + STEP)
    with pytest.raises(AssertionError, match="once it is due"):
        exit_candle(candles, STEP, now + timedelta(minutes=10), now)


def test_measuring_with_a_candle_that_has_not_closed_is_impossible() -> None:
    candles = real_candles()[:101]  # the last one closes 3 minutes after `now`
    now = from_ms(candles[-2].ts + STEP) + timedelta(minutes=2)
    with pytest.raises(AssertionError, match="closed by now"):
        exit_candle(candles, STEP, now - timedelta(minutes=1), now)


def test_an_exit_candle_is_none_until_the_candle_holding_the_due_time_closes() -> None:
    candles = real_candles()[:101]
    now = from_ms(candles[-1].ts + STEP) + timedelta(minutes=2)  # the next candle is open
    assert exit_candle(candles, STEP, now - timedelta(minutes=1), now) is None


def test_outcome_is_the_position_return_net_of_one_side_costs() -> None:
    up = outcome_of("BUY", 1.0, Decimal(100), Decimal(101), one_way_cost=0.0015)
    assert up.market_return == pytest.approx(0.01)
    assert up.reward == pytest.approx(0.01 - 0.0015)
    assert up.excess == pytest.approx(-0.0015)
    flat = outcome_of("SELL", 0.0, Decimal(100), Decimal(99), one_way_cost=0.0015)
    assert flat.reward == pytest.approx(-0.0015)  # out of the market: only the cost
    assert flat.excess == pytest.approx(0.01 - 0.0015)  # but it avoided a 1% fall
    keep_long = outcome_of("HOLD", 1.0, Decimal(100), Decimal(102), one_way_cost=0.0015)
    assert keep_long.reward == pytest.approx(0.02)  # holding a position earns its move, free


def test_due_outcomes_are_measured_from_the_replay_feed_and_recorded_once(db: Database) -> None:
    feed, clock = replay_at(1000)
    entry_price = Decimal(repr(real_candles()[1000].close))
    write_experiment(db, experiment_at("e1", clock.now(), timedelta(minutes=15), entry_price))

    def due(now: datetime) -> list[MeasuredOutcome | Unmeasurable]:
        return due_outcomes(
            db, feed, scope="s", timeframe="5m", step_ms=STEP, now=now, one_way_cost=0.0015
        )

    assert due(clock.now() + timedelta(minutes=10)) == []
    clock.advance_to(clock.now() + timedelta(minutes=25))
    outcomes = due(clock.now())
    assert record_outcomes(db, outcomes, now=clock.now(), half_life_secs=86400.0) == 1
    assert record_outcomes(db, outcomes, now=clock.now(), half_life_secs=86400.0) == 0
    exit_price = Decimal(repr(real_candles()[1003].close))
    row = sqlite3.connect(db.path).execute("SELECT exit_price, reward FROM experiments").fetchone()
    assert Decimal(row[0]) == exit_price
    assert row[1] == pytest.approx(float(exit_price / entry_price - 1) - 0.0015)
    assert read_posteriors(db, "s", clock.now(), 86400.0)["breakout:20"].count == 1


@pytest.mark.parametrize(
    ("file", "timeframe"),
    [
        ("binance_BTCUSDT_5m_2023-03-24_outage.csv.gz", "5m"),
        ("binance_BTCUSDT_1h_2019-05-15_outage.csv.gz", "1h"),
    ],
)
def test_no_experiment_stays_open_across_a_real_exchange_outage(
    db: Database, file: str, timeframe: str
) -> None:
    """An experiment each step, 3 candles long, through the outage: each is measured at the
    first candle closing at or after its due time (after a gap no longer than its horizon,
    noted) or closed as unmeasurable with the reason."""
    candles = load_candles(DATA / file).candles
    clock = SimulatedClock(from_ms(candles[0].ts))
    feed = ReplayFeed.from_file(DATA / file, "BTC/USDT", timeframe, clock)
    step = timedelta(milliseconds=feed.step_ms)

    def measure(now: datetime) -> None:
        clock.advance_to(now)
        outcomes = due_outcomes(
            db,
            feed,
            scope="s",
            timeframe=timeframe,
            step_ms=feed.step_ms,
            now=now,
            one_way_cost=0.0015,
        )
        record_outcomes(db, outcomes, now=now, half_life_secs=86400.0)

    entry, last_entry = from_ms(candles[0].ts) + step, from_ms(candles[-4].ts) + step
    number = 0
    while entry <= last_entry:  # the agent wakes each step, outage or not
        measure(entry)
        price = feed.ohlcv(timeframe, 1)[-1].close
        write_experiment(db, experiment_at(f"e{number:03}", entry, 3 * step, price))
        entry, number = entry + step, number + 1
    measure(from_ms(candles[-1].ts) + step)
    rows = (
        sqlite3.connect(db.path)
        .execute("SELECT status, due_ts, exit_ts, note FROM experiments ORDER BY id")
        .fetchall()
    )
    assert len(rows) == number > len(candles)
    assert "OPEN" not in {status for status, *_ in rows}
    unmeasurable = [note for status, _, _, note in rows if status == "UNMEASURABLE"]
    after_gap = [note for status, _, _, note in rows if status == "MEASURED" and note]
    assert unmeasurable and all("feed gap" in note for note in unmeasurable)
    assert after_gap and all("after a feed gap" in note for note in after_gap)
    for status, due, exit_ts, _ in rows:
        if status == "MEASURED":
            assert exit_ts >= due  # the first candle closing at or after the due time


def test_experiments_the_feed_cannot_reach_are_closed_and_never_block_newer_ones(
    db: Database,
) -> None:
    feed, clock = replay_at(1000)
    before_the_feed = from_ms(real_candles()[0].ts) - timedelta(days=3)
    for number in range(120):  # more than one measuring pass takes
        entry = before_the_feed + timedelta(minutes=number)
        write_experiment(db, experiment_at(f"old{number:03}", entry, timedelta(minutes=15), 1.0))
    fresh_entry = clock.now() - timedelta(minutes=20)
    write_experiment(db, experiment_at("new", fresh_entry, timedelta(minutes=15), 1.0))
    for _ in range(2):
        outcomes = due_outcomes(
            db,
            feed,
            scope="s",
            timeframe="5m",
            step_ms=STEP,
            now=clock.now(),
            one_way_cost=0.0015,
        )
        record_outcomes(db, outcomes, now=clock.now(), half_life_secs=86400.0)
    statuses = dict(
        sqlite3.connect(db.path).execute("SELECT status, count(*) FROM experiments GROUP BY 1")
    )
    assert statuses == {"UNMEASURABLE": 120, "MEASURED": 1}
    note = sqlite3.connect(db.path).execute("SELECT note FROM experiments WHERE id = 'old000'")
    assert "no longer reaches its due time" in note.fetchone()[0]


# --- posteriors ---


def test_posterior_update_matches_a_hand_checked_case() -> None:
    stats = ArmStats().add(0.01, T0, 1e12).add(-0.002, T0, 1e12)
    post = posterior(stats)
    # kappa = 1 + 2; mu = (0 + 0.008) / 3; alpha = 2 + 2/2
    assert post.kappa == pytest.approx(3.0)
    assert post.mu == pytest.approx(0.008 / 3)
    assert post.alpha == pytest.approx(3.0)
    # beta = beta0 + 1/2 * sum((x - xbar)^2) + kappa0 * n * (xbar - mu0)^2 / (2 * kappa)
    #      = 5e-5 + 0.5 * (0.006^2 + 0.006^2) + 1 * 2 * 0.004^2 / 6
    assert pytest.approx(5e-5) == PRIOR_BETA
    assert post.beta == pytest.approx(5e-5 + 0.000036 + 2 * 0.004**2 / 6)


def test_no_evidence_gives_the_prior() -> None:
    prior = posterior(ArmStats())
    assert (prior.mu, prior.kappa, prior.alpha) == (0.0, 1.0, 2.0)
    low, high = prior.interval()
    assert low < 0 < high


def test_evidence_halves_after_one_half_life() -> None:
    stats = ArmStats().add(0.004, T0, 3600.0)
    aged = stats.decay(T0 + timedelta(hours=1), 3600.0)
    assert aged.weight == pytest.approx(0.5)
    assert aged.total == pytest.approx(0.002)
    assert aged.count == 1  # the raw count is kept for the record


def test_discounting_lets_the_posterior_follow_a_regime_change() -> None:
    def after_change(half_life: float) -> float:
        stats = ArmStats()
        for hour in range(100):  # a long good regime...
            stats = stats.add(0.002, T0 + timedelta(hours=hour), half_life)
        for hour in range(100, 120):  # ...then it turns bad
            stats = stats.add(-0.002, T0 + timedelta(hours=hour), half_life)
        return posterior(stats).mean

    assert after_change(half_life=6 * 3600) < 0 < after_change(half_life=1e9)


def test_replay_scopes_keep_runs_from_learning_from_each_other(tmp_path: Path) -> None:
    path = tmp_path / "two.db"
    run_replay(path, hours=8)
    run_replay(path, hours=8, seed=8)
    with sqlite3.connect(path) as raw:
        scopes = raw.execute("SELECT scope, count(*) FROM posteriors GROUP BY scope").fetchall()
        runs = raw.execute("SELECT run_id FROM runs").fetchall()
    assert len(runs) == 2 and {scope for scope, _ in scopes} == {run for (run,) in runs}


# --- the report ---


def test_report_writes_files_consistent_with_the_trades_table(tmp_path: Path) -> None:
    path = tmp_path / "report.db"
    code, _ = run_replay(path, hours=24, start=datetime(2025, 9, 29, tzinfo=UTC))
    assert code == 0
    settings = load_settings(env_file=None, db_path=path)
    console = Console(file=__import__("io").StringIO(), width=160)
    page = write_report(settings, tmp_path / "out", None, console)
    assert page.is_file() and page.read_text().count("data:image/png;base64,") == 3
    assert len(list((tmp_path / "out").glob("*.png"))) == 3
    with sqlite3.connect(path) as raw:
        trades, fees = raw.execute("SELECT count(*), sum(CAST(fee AS REAL)) FROM trades").fetchone()
    html_text = page.read_text()
    assert f"<th>trades</th><td>{trades}</td>" in html_text
    fees_cell = html_text.split("<th>fees_paid</th><td>")[1].split("<")[0]
    assert float(fees_cell) == pytest.approx(fees)
    printed = console.file.getvalue()  # type: ignore[attr-defined]
    assert "Sharpe" in printed and "strategy families" in printed


def test_max_drawdown_is_the_largest_fall_from_a_running_peak() -> None:
    from autotrader.research.metrics import max_drawdown

    assert max_drawdown([100.0, 120.0, 90.0, 130.0, 117.0]) == pytest.approx(0.25)
    assert max_drawdown([]) == 0.0


def test_the_latest_executed_experiment_is_read_through_an_index(db: Database) -> None:
    """Each cycle asks for it: a plan that sorts every experiment of the scope grows with the run
    (2.2 ms a cycle at 4,000 experiments), and one through (scope, created_ts) walks back over
    every HOLD since the last trade (days of them in cash on 5m candles)."""
    from sqlalchemy.dialects import sqlite as sqlite_dialect

    from autotrader.research.lab import LAST_EXECUTED

    sql = str(
        LAST_EXECUTED.compile(
            dialect=sqlite_dialect.dialect(), compile_kwargs={"render_postcompile": True}
        )
    )
    with sqlite3.connect(db.path) as raw:
        binds = ("scope",) + (1,) * (sql.count("?") - 1)  # the scope, then limits and flags
        plan = raw.execute(f"EXPLAIN QUERY PLAN {sql}", binds).fetchall()
    steps = " | ".join(str(step[-1]) for step in plan)
    assert "ix_experiments_executed" in steps
    assert "SCAN" not in steps and "TEMP B-TREE" not in steps
