"""The CCXT venue: testnet through the exchange's sandbox mode, real through live endpoints.

Market orders carry a client order id (Binance: newClientOrderId). A network failure while
placing raises OrderOutcomeUnknown, never a plain failure: the caller looks the order up by that
id. Reads retry transient errors; credentials are only ever handed to CCXT, never logged.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal, localcontext
from typing import Any

import ccxt

from autotrader.clock import Clock, from_ms, to_ms
from autotrader.config import Settings, split_symbol
from autotrader.errors import ConfigError, OrderOutcomeUnknown, UnknownOrder
from autotrader.exchange.base import AccountState, OrderReport, Side
from autotrader.exchange.ccxt_calls import call_exchange, scrub, translate
from autotrader.exchange.live_feed import LiveFeed
from autotrader.exchange.retry import RetryPolicy
from autotrader.exchange.rules import SPOT_ONLY_OPTIONS, MarketRules

ZERO = Decimal(0)
# Errors that prove an order was refused and not executed (insufficient funds, -1013 filters,
# -2010, bad symbol, a refused key): every other error placing an order leaves it unknown.
REFUSALS: tuple[type[Exception], ...] = (
    ccxt.InsufficientFunds,
    ccxt.InvalidOrder,
    ccxt.BadRequest,
    ccxt.BadSymbol,
    ccxt.AuthenticationError,
    ccxt.PermissionDenied,
    ccxt.AccountSuspended,
    ccxt.NotSupported,
)
STATUSES = {"closed": "FILLED", "open": "OPEN", "canceled": "CANCELED", "expired": "CANCELED"}
# Binance's order lookups can lag its matching engine (-2013 for an order that exists): only an
# order still unseen this long after it was sent is taken as never executed.
LOOKUP_LAG = timedelta(minutes=10)


def build_exchange(settings: Settings, *, with_keys: bool = True) -> Any:
    """A CCXT exchange for SPOT trading: sandbox (testnet) URLs unless MODE=real."""
    exchange_class = getattr(ccxt, settings.exchange_id, None)
    if exchange_class is None:
        raise ConfigError(
            f"invalid setting EXCHANGE_ID={settings.exchange_id!r}: CCXT has no such exchange"
        )
    config: dict[str, Any] = {"enableRateLimit": True, "options": dict(SPOT_ONLY_OPTIONS)}
    if with_keys and settings.exchange_api_key and settings.exchange_api_secret:
        config["apiKey"] = settings.exchange_api_key.get_secret_value()
        config["secret"] = settings.exchange_api_secret.get_secret_value()
    exchange = exchange_class(config)
    if settings.mode == "testnet":
        exchange.set_sandbox_mode(True)
    return exchange


class CcxtVenue:
    lookup_lag = LOOKUP_LAG

    def __init__(self, exchange: Any, symbol: str, clock: Clock, retry: RetryPolicy) -> None:
        call_exchange(retry, exchange.load_markets)
        self.name = exchange.id + ("-testnet" if exchange.isSandboxModeEnabled else "")
        self.rules = MarketRules.of(exchange, symbol)
        self.market = LiveFeed(exchange, symbol, clock, retry)
        self._exchange = exchange
        self._retry = retry
        self._base, self._quote = split_symbol(symbol)

    @property
    def symbol(self) -> str:
        return self.rules.symbol

    def account(self) -> AccountState:
        balance = call_exchange(self._retry, self._exchange.fetch_balance)
        totals = balance.get("total") or {}
        return AccountState(
            {asset: Decimal(str(totals.get(asset) or 0)) for asset in (self._base, self._quote)}
        )

    def create_market_order(
        self, side: Side, qty: Decimal, client_order_id: str, *, max_cost: Decimal | None = None
    ) -> OrderReport:
        params = {"clientOrderId": client_order_id}
        what = f"placing {side} {qty} {self.symbol} (client id {client_order_id})"
        try:
            with localcontext():
                if side == "BUY" and max_cost is not None:  # quoteOrderQty: spend at most this
                    order = self._exchange.create_market_buy_order_with_cost(
                        self.symbol, str(max_cost), params
                    )
                else:  # price=None: with a price CCXT turns a market buy into quoteOrderQty
                    order = self._exchange.create_order(
                        self.symbol, "market", side.lower(), str(qty), None, params
                    )
        except REFUSALS as error:
            raise translate(error, what) from None
        except ccxt.BaseError as error:
            # Timeouts, dropped connections, 5xx, -1000/-1006/-1007 and anything unclassified:
            # the venue may have executed the order, so its outcome is unknown, not refused.
            raise OrderOutcomeUnknown(
                f"no clear answer {what}: {scrub(f'{type(error).__name__}: {error}')}"
            ) from None
        return self._report(order)

    def find_order(self, client_order_id: str) -> OrderReport | None:
        try:
            order = call_exchange(
                self._retry,
                self._exchange.fetch_order,
                None,
                self.symbol,
                {"clientOrderId": client_order_id},
            )
        except UnknownOrder:
            return None
        return self._report(order)

    def orders_since(self, since: datetime) -> list[OrderReport]:
        orders = call_exchange(self._retry, self._exchange.fetch_orders, self.symbol, to_ms(since))
        return [self._report(order) for order in orders]

    def cancel_all(self) -> int:
        try:
            cancelled = call_exchange(self._retry, self._exchange.cancel_all_orders, self.symbol)
        except UnknownOrder:  # Binance's -2011 when nothing is open: nothing to cancel
            return 0
        return len(cancelled or [])

    def _report(self, order: dict[str, Any]) -> OrderReport:
        info = order.get("info") or {}
        filled = Decimal(str(info.get("executedQty") or order.get("filled") or 0))
        quote_spent = info.get("cummulativeQuoteQty")
        if quote_spent is not None and filled > 0:
            average = Decimal(str(quote_spent)) / filled
        else:
            average = Decimal(str(order.get("average") or order.get("price") or 0))
        fee, fee_asset = self._fee_of(order, info)
        side: Side = "BUY" if str(order.get("side", info.get("side"))).upper() == "BUY" else "SELL"
        status = STATUSES.get(str(order.get("status")), "REJECTED")
        stamp = order.get("timestamp") or info.get("transactTime") or info.get("time") or 0
        return OrderReport(
            order_id=str(order.get("id") or info.get("orderId")),
            client_order_id=str(order.get("clientOrderId") or info.get("clientOrderId")),
            symbol=self.symbol,
            side=side,
            status=status,  # type: ignore[arg-type]
            filled_qty=filled,
            avg_price=average,
            fee=fee,
            fee_asset=fee_asset,
            ts=from_ms(int(stamp)),
        )

    def _fee_of(self, order: dict[str, Any], info: dict[str, Any]) -> tuple[Decimal, str]:
        """Commission from the exact fill strings when present, else CCXT's parsed fee, else
        (Binance's order query omits it) the sum over the order's own trades."""
        fills = info.get("fills") or []
        if fills:
            total = sum((Decimal(str(f["commission"])) for f in fills), ZERO)
            return total, str(fills[0].get("commissionAsset") or self._quote)
        fee = order.get("fee") or {}
        if fee.get("cost") is not None:
            return Decimal(str(fee["cost"])), str(fee.get("currency") or self._quote)
        if not order.get("filled"):
            return ZERO, self._quote
        trades = call_exchange(
            self._retry,
            self._exchange.fetch_my_trades,
            self.symbol,
            None,
            None,
            {"orderId": order.get("id")},
        )
        fees = [trade["fee"] for trade in trades if trade.get("fee")]
        total = sum((Decimal(str(f["cost"])) for f in fees), ZERO)
        return total, str(fees[0]["currency"]) if fees else self._quote
