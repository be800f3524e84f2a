"""Numbers as a person writes them, and arms named so a reader knows what they do."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from autotrader.research import formats
from autotrader.research.arms import ARM_PRESETS, arm_label, arm_short


def test_money_has_two_decimals_and_thousands_separators() -> None:
    assert formats.money(Decimal("1234.5")) == "1,234.50"
    assert formats.money(Decimal("-9.391985670000103"), signed=True) == "-9.39"
    assert formats.money(None) == "-"


def test_returns_read_as_signed_percentages_and_outcomes_as_basis_points() -> None:
    assert formats.pct(-0.009391985670000103) == "-0.94%"
    assert formats.pct(0.28378378378378377, 0, signed=False) == "28%"
    assert formats.points(0.0123) == "+1.23 pp"
    assert formats.bp(-0.00025163992041747076) == "-2.5 bp"


@given(st.decimals(min_value=0, max_value=1000, places=10, allow_nan=False))
def test_a_quantity_is_never_written_with_an_exponent(value: Decimal) -> None:
    text = formats.qty(value)
    assert "E" not in text and "e" not in text
    assert Decimal(text) == value


def test_wakeups_read_in_the_largest_whole_unit() -> None:
    assert [formats.wakeup(s) for s in (300, 2400, 3600, 90)] == ["5m", "40m", "1h", "90s"]


def test_every_arm_is_named_by_what_it_does_not_by_its_key() -> None:
    for arm in ARM_PRESETS:
        assert arm_label(arm) != arm and (":" not in arm or arm not in arm_label(arm))
        assert len(arm_short(arm)) <= 9
    assert arm_label("breakout:20") == "breakout above the 20-candle high (long only)"
    assert arm_label("rsi_mean_reversion:20-80").startswith("RSI(14) mean reversion: buy below 20")


def test_an_arm_without_a_preset_is_shown_by_its_key() -> None:
    assert arm_label("vwap:fast") == "vwap:fast"
    assert arm_short(None) == "-"
