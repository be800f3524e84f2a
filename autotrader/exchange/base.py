"""The venue port: one interface for the paper venue and CCXT (testnet or real).

Nothing above this interface knows which venue it has. Every method raises only the typed
errors in autotrader.errors.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal, Protocol

from autotrader.exchange.rules import MarketRules
from autotrader.tools.market import MarketData

Side = Literal["BUY", "SELL"]


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
    """Balances per asset, and the books of the position in the traded symbol."""

    balances: dict[str, Decimal]
    position_cost: Decimal
    realized_pnl: Decimal


class Venue(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def symbol(self) -> str: ...

    @property
    def market(self) -> MarketData: ...

    @property
    def rules(self) -> MarketRules: ...

    def account(self) -> AccountState: ...

    def create_market_order(self, side: Side, qty: Decimal, client_order_id: str) -> OrderReport:
        """Send a market order; it fills completely or raises, never a silent partial."""
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
