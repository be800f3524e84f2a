"""The position limit holds whatever quantity a model asks for."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from autotrader.exchange.base import AccountState
from autotrader.schemas import Side
from autotrader.tools.position_limit import TOLERANCE, PositionLimit

money = st.decimals(min_value=0, max_value=10**6, places=8, allow_nan=False)
prices = st.decimals(min_value=Decimal("0.01"), max_value=10**6, places=2, allow_nan=False)
fractions = st.decimals(min_value=Decimal("0.01"), max_value=1, places=2, allow_nan=False)
FEE = Decimal("0.001")


@given(
    cash=money,
    held=money,
    price=prices,
    fraction=fractions,
    side=st.sampled_from(["BUY", "SELL"]),
    qty=money,
    smallest=st.decimals(min_value=0, max_value=1, places=5, allow_nan=False),
)
def test_an_order_the_limit_passes_stays_within_equity_share_cash_and_holdings(
    cash: Decimal,
    held: Decimal,
    price: Decimal,
    fraction: Decimal,
    side: Side,
    qty: Decimal,
    smallest: Decimal,
) -> None:
    limit = PositionLimit("BTC/USDT", fraction, FEE)
    account = AccountState({"USDT": cash, "BTC": held})
    if limit.violation(account, price, side, qty, smallest) is not None:
        return
    if side == "SELL":
        assert qty <= held
        return
    assert qty * price * (1 + FEE) <= cash
    position = (held + qty) * price
    share = (cash + held * price) * fraction * (1 + TOLERANCE)
    assert qty == 0 or position <= max(share, smallest * price)


def test_the_largest_quantity_passes_and_a_step_more_does_not() -> None:
    limit = PositionLimit("BTC/USDT", Decimal("0.1"), FEE)
    account = AccountState({"USDT": Decimal(1000), "BTC": Decimal(0)})
    most = limit.max_qty(account, Decimal(100), "BUY", Decimal("0.0001"))
    assert limit.violation(account, Decimal(100), "BUY", most, Decimal("0.0001")) is None
    assert limit.violation(account, Decimal(100), "BUY", most + Decimal("0.001"), Decimal(0))
