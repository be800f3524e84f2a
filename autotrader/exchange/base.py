"""The venue port: one interface for the paper venue and CCXT (testnet or real), and the market
data port beneath it.

Nothing above these interfaces knows which implementation it has. Every method raises only the
typed errors in autotrader.errors. A venue reports balances and fills; the books of a position
(cost basis, realized PnL) are folded from the ledger's trades, never kept by a venue.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Literal, Protocol

from autotrader.exchange.candles import Candle
from autotrader.exchange.rules import MarketRules
from autotrader.schemas import Side

__all__ = ["AccountState", "FillPricer", "MarketData", "OrderReport", "Side", "Venue"]


class MarketData(Protocol):
    """What the agents, the research loop and the venues see of the market."""

    symbol: str

    def ohlcv(self, timeframe: str, limit: int) -> list[Candle]:
        """The newest `limit` closed candles, oldest first."""
        ...

    def last_price(self) -> Decimal:
        """The reference price now: the last closed candle's close, or the ticker's last."""
        ...


class FillPricer(Protocol):
    """Where a simulated market order fills (the paper venue's only view of liquidity)."""

    def fill_price(self, side: Side, qty: Decimal) -> Decimal:
        """The average price a market order of `qty` would fill at now, before slippage."""
        ...


@dataclass(frozen=True)
class OrderReport:
    """The venue's record of one market order."""

    order_id: str
    client_order_id: str
    symbol: str
    side: Side
    status: Literal["FILLED", "OPEN", "CANCELED", "REJECTED"]
    filled_qty: Decimal
    avg_price: Decimal
    fee: Decimal
    fee_asset: str
    ts: datetime


@dataclass(frozen=True)
class AccountState:
    """Balances per asset, as the venue reports them."""

    balances: dict[str, Decimal]

    def held(self, asset: str) -> Decimal:
        return self.balances.get(asset, Decimal(0))


class Venue(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def symbol(self) -> str: ...

    @property
    def market(self) -> MarketData: ...

    @property
    def rules(self) -> MarketRules: ...

    @property
    def lookup_lag(self) -> timedelta:
        """How long a lookup by client id may miss an order the venue did execute: an order
        still unseen this long after it was sent never executed."""
        ...

    def account(self) -> AccountState: ...

    def create_market_order(
        self, side: Side, qty: Decimal, client_order_id: str, *, max_cost: Decimal | None = None
    ) -> OrderReport:
        """Send a market order; it fills completely or raises, never a silent partial. A BUY
        with `max_cost` is sized in the quote asset instead (Binance's quoteOrderQty): it spends
        at most that much, whatever the fill price, and `qty` is only what is expected."""
        ...

    def find_order(self, client_order_id: str) -> OrderReport | None:
        """The order with this client id, or None if the venue has never seen it."""
        ...

    def orders_since(self, since: datetime) -> list[OrderReport]:
        """Orders placed since `since` (boot reconciliation compares them with the ledger)."""
        ...

    def cancel_all(self) -> int:
        """Cancel every open order in the symbol; returns how many were cancelled."""
        ...
