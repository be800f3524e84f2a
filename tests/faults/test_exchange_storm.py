"""The exchange fault storm (make test-faults): the real loop in testnet mode against a stateful
fake Binance injecting hundreds of faults, crashed in process and restarted again and again;
then real mode on a thin book under DEPOSIT_CAP_USDT=20. Everything is checked against the
fake's own book of record."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from tests.fakes import faults as kinds
from tests.faults.conftest import Figures
from tests.faults.exchange_storm import StormConfig, StormResult, run_storm

pytestmark = pytest.mark.faults

TESTNET = StormConfig(
    seed=11,
    mode="testnet",
    start=datetime(2025, 9, 29, tzinfo=UTC),
    hours=60,
    crashes=15,
    balances={"USDT": Decimal(1000)},
)
CAP = Decimal(20)
REAL = StormConfig(
    seed=5,
    mode="real",
    start=datetime(2025, 9, 20, tzinfo=UTC),
    hours=36,
    crashes=6,
    balances={"USDT": Decimal(100)},
    book_offset=Decimal("0.03"),  # a thin book: every buy fills 3% above the ticker
    oversize=Decimal(10),  # a hostile Trader: asks for ten times what its sizing allows
    settings={"deposit_cap_usdt": CAP, "order_fraction": Decimal(1)},
)
EVERY_KIND = {
    *kinds.ORDER_KINDS,
    kinds.LAG_2013,
    kinds.MAINTENANCE,
}


def record(figures: Figures, table: str, storm: StormResult) -> None:
    fake, ledger, venue = storm.fake, storm.ledger(), storm.venue()

    def add(measure: str, value: object, target: str = "") -> None:
        figures.add(table, measure, value, target)

    add("wall seconds", f"{storm.seconds:.1f}")
    add("cycles completed", storm.cycles_ok(), ">= 100" if storm.config.mode == "testnet" else "")
    add("HTTP requests served", fake.requests)
    add("faults injected", fake.faults.total, ">= 200")
    add("  of them on order POSTs", fake.faults.on_orders)
    for kind, count in sorted(fake.faults.counts.items()):
        add(f"  {kind}", count)
    add("in-process crashes", sum(storm.crashes.values()))
    for stage, count in sorted(storm.crashes.items()):
        add(f"  at {stage}", count)
    add("restarts", storm.restarts)
    add("  of them boots refused by a venue down", storm.boot_failures)
    add("runs registered (restarts adopt the crashed run)", storm.run_ids_in_storm, "1")
    add("orders executed by the fake", len(fake.orders))
    figures.promises(
        table,
        ledger,
        duplicates=ledger.duplicate_orders + venue.client_ids_executed_twice,
        lost=(storm.lost_while_running, storm.lost_after_restart),
        contradicting_venue=venue.orders.contradicting,
    )
    add("client ids the fake executed twice", venue.client_ids_executed_twice, "0")
    add("cycles with two executions at the fake", venue.cycles_with_two_executions, "0")
    add("fake fills not booked exactly once", venue.fills_not_booked_once, "0")
    add("trades the fake never executed", venue.trades_without_a_fill, "0")
    add("orders UNKNOWN and not at the venue (true, unsettled)", venue.orders.unresolved)
    add("requests inside a Retry-After window", fake.inside_retry_after)
    if storm.config.mode == "real":
        add(
            "max position value at the ticker (USDT)", f"{fake.max_position_value:.4f}", f"<= {CAP}"
        )
        add("max position value at the price paid", f"{fake.max_position_at_fill:.4f}", f"<= {CAP}")


@pytest.fixture(scope="module")
def testnet(tmp_path_factory: pytest.TempPathFactory, figures: Figures) -> StormResult:
    storm = run_storm(tmp_path_factory.mktemp("testnet"), TESTNET)
    record(figures, "exchange storm, testnet (seed 11, 60 simulated hours)", storm)
    return storm


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory, figures: Figures) -> StormResult:
    storm = run_storm(tmp_path_factory.mktemp("real"), REAL)
    record(figures, "exchange storm, real mode, cap 20 USDT, thin book (seed 5, 36 h)", storm)
    return storm


def test_the_storm_runs_a_hundred_cycles_through_two_hundred_faults_of_every_kind(
    testnet: StormResult,
) -> None:
    assert testnet.cycles_ok() >= 100
    assert testnet.fake.faults.total >= 200
    assert set(testnet.fake.faults.counts) == EVERY_KIND
    assert set(testnet.crashes) >= {"decided", "sent", "filled", "closing", "closed"}
    assert testnet.fake.unexpected == []  # every request was one a real client sends, signed


def test_no_client_id_is_ever_executed_twice(testnet: StormResult, real: StormResult) -> None:
    for storm in (testnet, real):
        assert storm.venue().client_ids_executed_twice == 0


def test_no_cycle_has_two_orders(testnet: StormResult, real: StormResult) -> None:
    for storm in (testnet, real):
        assert storm.ledger().cycles_with_two_orders == 0
        assert storm.venue().cycles_with_two_executions == 0


def test_every_fake_fill_is_booked_exactly_once(testnet: StormResult, real: StormResult) -> None:
    for storm in (testnet, real):
        venue = storm.venue()
        assert (venue.fills_not_booked_once, venue.trades_without_a_fill) == (0, 0)


def test_no_fill_is_lost_while_running_or_after_a_restart(
    testnet: StormResult, real: StormResult
) -> None:
    for storm in (testnet, real):
        assert (storm.lost_while_running, storm.lost_after_restart) == (0, 0)


def test_every_order_row_agrees_with_the_ledger_and_the_fake(
    testnet: StormResult, real: StormResult
) -> None:
    for storm in (testnet, real):
        assert storm.ledger().lying_orders == 0
        assert storm.venue().orders.contradicting == 0


def test_every_decision_has_its_cycle_and_none_is_left_open(
    testnet: StormResult, real: StormResult
) -> None:
    for storm in (testnet, real):
        ledger = storm.ledger()
        assert (ledger.decisions_without_a_cycle, ledger.repeated_decisions) == (0, 0)
        assert ledger.open_cycles == 0


def test_every_restart_adopts_the_run_the_crash_left(
    testnet: StormResult, real: StormResult
) -> None:
    for storm in (testnet, real):
        assert storm.run_ids_in_storm == 1


def test_real_mode_exposure_never_exceeds_the_cap_even_on_a_thin_book(real: StormResult) -> None:
    assert real.fake.max_position_at_fill <= CAP
    assert real.fake.max_position_value <= CAP
    buys = [order for order in real.fake.orders if order.side == "BUY"]
    assert buys and all(order.quote_order_qty > 0 for order in buys)  # sized in the quote asset


def test_the_storm_is_the_same_storm_on_the_same_seed(tmp_path: Path) -> None:
    short = StormConfig(
        seed=3,
        mode="testnet",
        start=datetime(2025, 9, 30, tzinfo=UTC),
        hours=6,
        crashes=3,
        balances={"USDT": Decimal(1000)},
    )
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = run_storm(tmp_path / "a", short)
    second = run_storm(tmp_path / "b", short)
    assert first.fake.faults.counts == second.fake.faults.counts
    assert [o.as_trade() for o in first.fake.orders] == [o.as_trade() for o in second.fake.orders]
