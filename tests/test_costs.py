"""The cost the research charges: configured, unless the fills show surely more."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from autotrader.db import Database
from autotrader.research.costs import (
    MIN_FILLS,
    fee_share,
    fill_cost,
    measure_costs,
    read_cost_model,
)
from tests.helpers import run_replay

CONFIGURED = Decimal("0.0015")


def test_a_fill_costs_its_fee_share_and_its_price_against_the_order() -> None:
    assert fill_cost("BUY", Decimal(100), Decimal("100.5"), Decimal("0.001")) == 0.006
    assert fill_cost("SELL", Decimal(100), Decimal("99.5"), Decimal("0.001")) == 0.006
    assert fill_cost("SELL", Decimal(100), Decimal("100.2"), Decimal("0.001")) == -0.001


def test_a_fee_is_a_share_of_the_notional_in_either_asset_of_the_pair() -> None:
    qty, price = Decimal("0.5"), Decimal(200)
    assert fee_share(Decimal("0.1"), "USDT", qty, price, "BTC/USDT") == Decimal("0.001")
    assert fee_share(Decimal("0.0005"), "BTC", qty, price, "BTC/USDT") == Decimal("0.001")
    assert fee_share(Decimal("0.1"), "", qty, price, "BTC/USDT") == Decimal("0.001")  # as booked
    assert fee_share(Decimal("0.01"), "BNB", qty, price, "BTC/USDT") is None


def test_fills_surely_dearer_than_configured_are_what_the_research_charges() -> None:
    dear = [0.004, 0.0042, 0.0038, 0.0041, 0.0039, 0.004]
    assert measure_costs(dear, CONFIGURED).one_way == Decimal("0.004")
    assert measure_costs(dear[: MIN_FILLS - 1], CONFIGURED).one_way == CONFIGURED  # too few
    noisy = [0.0015, 0.0015, 0.0015, 0.0015, 0.0015, 0.02, -0.015]  # mean above, not surely
    assert measure_costs(noisy, CONFIGURED).measured is not None
    assert measure_costs(noisy, CONFIGURED).one_way == CONFIGURED


@given(st.lists(st.floats(-0.05, 0.05), max_size=40))
def test_the_charged_cost_is_never_below_the_configured_one(costs: list[float]) -> None:
    assert measure_costs(costs, CONFIGURED).one_way >= CONFIGURED


def test_a_paper_replay_measures_its_fills_at_the_configured_cost(tmp_path: Path) -> None:
    db_path = tmp_path / "costs.db"
    code, _ = run_replay(db_path, hours=96, start=datetime(2025, 9, 10, tzinfo=UTC))
    assert code == 0
    with sqlite3.connect(db_path) as raw:
        (scope,) = raw.execute("SELECT scope FROM runs").fetchone()
    db = Database.open(db_path)
    model = read_cost_model(db, scope, "BTC/USDT", Decimal("0.001"), Decimal("0.0005"))
    db.close()
    assert model.fills >= MIN_FILLS and model.measured is not None
    # The paper venue fills at the decision's price moved by SLIPPAGE and pays FEE_RATE.
    assert abs(model.measured - float(CONFIGURED)) < 1e-6
    assert model.one_way == CONFIGURED


def test_a_runs_fills_are_read_through_its_index_without_a_sort(tmp_path: Path) -> None:
    """Each cycle reads them: a scan of every run's trades would grow with the database."""
    from sqlalchemy.dialects import sqlite as sqlite_dialect

    from autotrader.research.costs import RECENT_FILLS

    sql = str(
        RECENT_FILLS.compile(
            dialect=sqlite_dialect.dialect(), compile_kwargs={"render_postcompile": True}
        )
    )
    Database.open(tmp_path / "plan.db").close()  # every table and index, migrated
    with sqlite3.connect(tmp_path / "plan.db") as raw:
        binds = ("run",) + (1,) * (sql.count("?") - 1)  # the run, then the limits
        plan = raw.execute(f"EXPLAIN QUERY PLAN {sql}", binds).fetchall()
    steps = " | ".join(str(step[-1]) for step in plan)
    assert "ix_trades_run" in steps
    assert "SCAN" not in steps and "TEMP B-TREE" not in steps
