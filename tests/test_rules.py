"""Quantization and minNotional with Binance's real BTC/USDT rules, the same as CCXT's helpers."""

from __future__ import annotations

import decimal
from decimal import Decimal

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

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


def test_an_unknown_symbol_in_the_recorded_rules_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="SYMBOL=DOGE/USDT has no market rules on binance"):
        MarketRules.recorded("DOGE/USDT")


@pytest.mark.parametrize("symbol", ["BTC/USDT", "ETH/USDT"])
def test_the_recorded_rules_are_the_ones_ccxt_reads_from_the_same_exchange_info(
    symbol: str,
) -> None:
    assert MarketRules.recorded(symbol) == MarketRules.of(offline_exchange(), symbol)


EXCHANGE = offline_exchange()
RULES = {symbol: MarketRules.recorded(symbol) for symbol in ("BTC/USDT", "ETH/USDT")}
quantities = st.decimals(min_value=Decimal("0.00000001"), max_value=Decimal(9000), places=12)
prices = st.decimals(min_value=Decimal("0.01"), max_value=Decimal(1_000_000), places=8)


@given(symbol=st.sampled_from(sorted(RULES)), qty=quantities)
@example(symbol="BTC/USDT", qty=Decimal("0.00012"))  # on the step
@example(symbol="ETH/USDT", qty=Decimal("0.00009999"))  # below one step
def test_amounts_round_exactly_as_ccxt_rounds_them(symbol: str, qty: Decimal) -> None:
    rounded = RULES[symbol].round_amount_down(qty)
    with decimal.localcontext():
        try:
            expected = EXCHANGE.amount_to_precision(symbol, str(qty))
        except Exception:  # CCXT refuses an amount that truncates to 0
            expected = "0"
    assert str(rounded) == str(Decimal(expected))


@given(symbol=st.sampled_from(sorted(RULES)), price=prices)
@example(symbol="BTC/USDT", price=Decimal("60000.005"))  # a half: up
@example(symbol="BTC/USDT", price=Decimal("60000.00499999"))
def test_prices_round_exactly_as_ccxt_rounds_them(symbol: str, price: Decimal) -> None:
    with decimal.localcontext():
        expected = EXCHANGE.price_to_precision(symbol, str(price))
    assert str(RULES[symbol].round_price(price)) == str(Decimal(expected))


class DecimalPlacesExchange:
    """A CCXT exchange that counts precision in decimal places, as some venues do."""

    id = "someexchange"
    symbols = ("BTC/USDT",)

    def __init__(self, mode: int) -> None:
        self.precisionMode = mode

    def market(self, symbol: str) -> dict[str, object]:
        return {
            "precision": {"amount": 5, "price": 2},
            "limits": {"amount": {"min": 0.00001, "max": None}, "cost": {"min": 5.0}},
        }


def test_decimal_places_become_a_step() -> None:
    import ccxt

    rules = MarketRules.of(DecimalPlacesExchange(ccxt.DECIMAL_PLACES), "BTC/USDT")
    assert (rules.amount_step, rules.price_tick) == (Decimal("0.00001"), Decimal("0.01"))
    assert rules.round_amount_down(Decimal("0.123456789")) == Decimal("0.12345")


def test_significant_digits_are_refused_in_one_line() -> None:
    import ccxt

    with pytest.raises(ConfigError, match="EXCHANGE_ID=someexchange counts precision in"):
        MarketRules.of(DecimalPlacesExchange(ccxt.SIGNIFICANT_DIGITS), "BTC/USDT")
