"""A symbol's market rules (amount step, price tick, minimum amount and notional), applied
through CCXT's own precision helpers so paper and live venues round identically.

Amounts round down to the step. The paper venue loads real Binance rules shipped with the
package into an offline CCXT exchange; live venues use the exchange's loaded markets.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from decimal import Decimal, localcontext
from pathlib import Path
from typing import Any

import ccxt

from autotrader.config import bundled_data_path
from autotrader.errors import ConfigError

BUNDLED_RULES = "binance_exchangeinfo_BTCUSDT_ETHUSDT.json.gz"
# Spot only: no futures/options markets, no currency or margin endpoints on load.
SPOT_ONLY_OPTIONS = {
    "fetchMarkets": {"types": ["spot"]},
    "fetchCurrencies": False,
    "fetchMargins": False,
}


def _decimal(value: Any) -> Decimal | None:
    """CCXT's float limit as a Decimal, without a float's trailing `.0` (5.0 -> 5)."""
    if value is None:
        return None
    number = Decimal(str(value))
    return number.quantize(Decimal(1)) if number == number.to_integral_value() else number


@dataclass(frozen=True)
class MarketRules:
    symbol: str
    amount_step: Decimal
    price_tick: Decimal
    min_amount: Decimal
    min_notional: Decimal
    max_amount: Decimal | None
    _exchange: Any

    @classmethod
    def of(cls, exchange: Any, symbol: str) -> MarketRules:
        try:
            market = exchange.market(symbol)
        except ccxt.BadSymbol:
            raise ConfigError(
                f"SYMBOL={symbol} has no market rules on {exchange.id} "
                f"(known: {', '.join(sorted(exchange.symbols)[:8])})"
            ) from None
        limits = market["limits"]
        return cls(
            symbol=symbol,
            amount_step=Decimal(str(market["precision"]["amount"])),
            price_tick=Decimal(str(market["precision"]["price"])),
            min_amount=_decimal(limits["amount"]["min"]) or Decimal(0),
            min_notional=_decimal(limits["cost"]["min"]) or Decimal(0),
            max_amount=_decimal(limits["amount"]["max"]),
            _exchange=exchange,
        )

    def round_amount_down(self, qty: Decimal) -> Decimal:
        """`qty` truncated to the amount step by CCXT; 0 when it is below one step."""
        if qty <= 0:
            return Decimal(0)
        # CCXT sets the thread's decimal rounding to HALF_UP; keep that inside this block.
        with localcontext():
            try:
                return Decimal(self._exchange.amount_to_precision(self.symbol, str(qty)))
            except ccxt.InvalidOrder:
                return Decimal(0)

    def round_price(self, price: Decimal) -> Decimal:
        with localcontext():
            return Decimal(self._exchange.price_to_precision(self.symbol, str(price)))

    def violations(self, qty: Decimal, price: Decimal) -> list[str]:
        """Why an order of `qty` at `price` would be refused; empty when it is acceptable."""
        problems: list[str] = []
        if qty != self.round_amount_down(qty):
            problems.append(f"qty {qty} is not a multiple of the step {self.amount_step}")
        if qty < self.min_amount:
            problems.append(f"qty {qty} is below the minimum amount {self.min_amount}")
        if self.max_amount is not None and qty > self.max_amount:
            problems.append(f"qty {qty} is above the maximum amount {self.max_amount}")
        notional = qty * price
        if notional < self.min_notional:
            problems.append(
                f"notional {notional:.2f} is below minNotional {self.min_notional} "
                f"(at price {price})"
            )
        return problems

    def smallest_valid_qty(self, price: Decimal) -> Decimal:
        """The least amount on the step that meets both minimums at `price`."""
        needed = max(self.min_amount, self.min_notional / price)
        steps = (needed / self.amount_step).to_integral_value(rounding="ROUND_CEILING")
        return steps * self.amount_step


def offline_exchange(exchange_info_path: Path | None = None) -> Any:
    """A CCXT Binance whose markets come from a recorded exchangeInfo body, not the network."""
    path = exchange_info_path or bundled_data_path(BUNDLED_RULES)
    body = json.loads(gzip.decompress(path.read_bytes()))
    exchange = ccxt.binance({"enableRateLimit": False, "options": dict(SPOT_ONLY_OPTIONS)})
    # CCXT's own load_markets runs unchanged; only the HTTP answer is the recorded one.
    exchange.publicGetExchangeInfo = lambda params=None: body
    with localcontext():
        exchange.load_markets()
    return exchange
