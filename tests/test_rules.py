"""Quantization and minNotional with Binance's real BTC/USDT rules, through CCXT's helpers."""

from __future__ import annotations

import decimal
from decimal import Decimal

import pytest

from autotrader.errors import ConfigError
from autotrader.exchange.rules import MarketRules, offline_exchange
from tests.helpers import btc_rules


def test_bundled_rules_are_binances_real_btcusdt_filters() -> None:
    rules = btc_rules()
    assert rules.amount_step == Decimal("0.00001")
    assert rules.price_tick == Decimal("0.01")
    assert rules.min_amount == Decimal("0.00001")
    assert rules.min_notional == Decimal("5")


@pytest.mark.parametrize(
    ("qty", "rounded"),
    [
        ("0.000019999", "0.00001"),
        ("0.00012345", "0.00012"),
        ("1.999999999", "1.99999"),
        ("0.00001", "0.00001"),
        ("0.000009999", "0"),
        ("0", "0"),
    ],
)
def test_amounts_round_down_to_the_step(qty: str, rounded: str) -> None:
    assert btc_rules().round_amount_down(Decimal(qty)) == Decimal(rounded)


def test_rounding_leaves_the_global_decimal_context_alone() -> None:
    before = decimal.getcontext().rounding
    btc_rules().round_amount_down(Decimal("0.00012345"))
    btc_rules().round_price(Decimal("60000.125"))
    assert decimal.getcontext().rounding == before == decimal.ROUND_HALF_EVEN


def test_an_order_below_min_notional_is_named() -> None:
    problems = btc_rules().violations(Decimal("0.00004"), Decimal("110000"))
    assert problems == ["notional 4.40 is below minNotional 5 (at price 110000)"]


def test_an_order_off_the_step_is_named() -> None:
    problems = btc_rules().violations(Decimal("0.000123"), Decimal("110000"))
    assert problems == ["qty 0.000123 is not a multiple of the step 0.00001"]


def test_a_valid_order_has_no_violations() -> None:
    assert btc_rules().violations(Decimal("0.00005"), Decimal("110000")) == []


def test_smallest_valid_qty_meets_min_notional_on_the_step() -> None:
    rules = btc_rules()
    smallest = rules.smallest_valid_qty(Decimal("110000"))
    assert smallest == Decimal("0.00005")
    assert rules.violations(smallest, Decimal("110000")) == []
    assert rules.violations(smallest - rules.amount_step, Decimal("110000")) != []


def test_an_unknown_symbol_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="SYMBOL=DOGE/USDT has no market rules"):
        MarketRules.of(offline_exchange(), "DOGE/USDT")
