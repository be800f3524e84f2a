"""A symbol's market rules (amount step, price tick, minimum amount and notional) and the
rounding both venues apply with them, so paper and live orders round identically.

Amounts truncate to the step and prices round half up to the tick, exactly as CCXT's
`amount_to_precision` and `price_to_precision` do for Binance (TICK_SIZE mode, no padding);
tests/test_rules.py pins that equality over random inputs. The rounding is plain Decimal
arithmetic, not a call into CCXT, because a replay would otherwise import CCXT's hundred
exchanges (~0.4 s of CPU, most of the boot budget) to truncate a number. Live venues read the
rules from CCXT's loaded markets; the paper venue from a recorded Binance exchangeInfo body.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from autotrader.config import bundled_data_path
from autotrader.errors import ConfigError

BUNDLED_RULES = "binance_exchangeinfo_BTCUSDT_ETHUSDT.json.gz"
# Spot only: no futures/options markets, no currency or margin endpoints on load.
SPOT_ONLY_OPTIONS = {
    "fetchMarkets": {"types": ["spot"]},
    "fetchCurrencies": False,
    "fetchMargins": False,
}


def _plain(number: Decimal) -> Decimal:
    """`number` without trailing zeros, as CCXT prints it (5.00000000 -> 5, 0.00120 -> 0.0012)."""
    return (
        number.quantize(Decimal(1)) if number == number.to_integral_value() else number.normalize()
    )


def _decimal(value: Any) -> Decimal | None:
    """A limit (CCXT's float or exchangeInfo's text) as a plain Decimal; None stays None."""
    return None if value is None else _plain(Decimal(str(value)))


def _on_grid(value: Decimal, step: Decimal, rounding: str) -> Decimal:
    return _plain((value / step).to_integral_value(rounding=rounding) * step)


@dataclass(frozen=True)
class MarketRules:
    symbol: str
    amount_step: Decimal
    price_tick: Decimal
    min_amount: Decimal
    min_notional: Decimal
    max_amount: Decimal | None

    @classmethod
    def of(cls, exchange: Any, symbol: str) -> MarketRules:
        """The rules of `symbol` from a CCXT exchange whose markets are loaded."""
        import ccxt  # the caller already has: it built the exchange

        try:
            market = exchange.market(symbol)
        except ccxt.BadSymbol:
            raise _unknown(symbol, exchange.id, exchange.symbols) from None
        limits = market["limits"]
        return cls(
            symbol=symbol,
            amount_step=_step(exchange, market["precision"]["amount"]),
            price_tick=_step(exchange, market["precision"]["price"]),
            min_amount=_decimal(limits["amount"]["min"]) or Decimal(0),
            min_notional=_decimal(limits["cost"]["min"]) or Decimal(0),
            max_amount=_decimal(limits["amount"]["max"]),
        )

    @classmethod
    def recorded(cls, symbol: str, exchange_info_path: Path | None = None) -> MarketRules:
        """The rules of `symbol` from a recorded Binance exchangeInfo body (default: the bundled
        one), read from its filters as CCXT's Binance parser reads them: LOT_SIZE for the step
        and amount limits, PRICE_FILTER for the tick, NOTIONAL (or the older MIN_NOTIONAL)."""
        entries = {
            f"{entry['baseAsset']}/{entry['quoteAsset']}": entry
            for entry in _exchange_info(exchange_info_path)["symbols"]
        }
        if symbol not in entries:
            raise _unknown(symbol, "binance", entries)
        filters = {item["filterType"]: item for item in entries[symbol]["filters"]}
        lot, price = filters["LOT_SIZE"], filters["PRICE_FILTER"]
        notional = filters.get("NOTIONAL") or filters.get("MIN_NOTIONAL") or {}
        return cls(
            symbol=symbol,
            amount_step=_plain(Decimal(lot["stepSize"])),
            price_tick=_plain(Decimal(price["tickSize"])),
            min_amount=_decimal(lot.get("minQty")) or Decimal(0),
            min_notional=_decimal(notional.get("minNotional")) or Decimal(0),
            max_amount=_decimal(lot.get("maxQty")),
        )

    def round_amount_down(self, qty: Decimal) -> Decimal:
        """`qty` truncated to the amount step; 0 when it is below one step."""
        if qty <= 0:
            return Decimal(0)
        return _on_grid(qty, self.amount_step, ROUND_DOWN)

    def round_price(self, price: Decimal) -> Decimal:
        """`price` on the tick, halves rounded up."""
        return _on_grid(price, self.price_tick, ROUND_HALF_UP)

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


def _step(exchange: Any, precision: Any) -> Decimal:
    """A CCXT market precision as a step: the step itself in TICK_SIZE mode (Binance's), or
    10^-places in DECIMAL_PLACES mode; significant digits have no fixed step."""
    import ccxt

    if exchange.precisionMode == ccxt.TICK_SIZE:
        return _plain(Decimal(str(precision)))
    if exchange.precisionMode == ccxt.DECIMAL_PLACES:
        return Decimal(1).scaleb(-int(precision))
    raise ConfigError(
        f"EXCHANGE_ID={exchange.id} counts precision in significant digits, which has no fixed "
        "order step; use an exchange that states a tick size or decimal places"
    )


def _unknown(symbol: str, venue: str, known: Any) -> ConfigError:
    return ConfigError(
        f"SYMBOL={symbol} has no market rules on {venue} (known: {', '.join(sorted(known)[:8])})"
    )


def _exchange_info(path: Path | None) -> Any:
    return json.loads(gzip.decompress((path or bundled_data_path(BUNDLED_RULES)).read_bytes()))


def offline_exchange(exchange_info_path: Path | None = None) -> Any:
    """A CCXT Binance whose markets come from a recorded exchangeInfo body, not the network
    (for fakes of the live venue and for checking our rules against CCXT's)."""
    from decimal import localcontext

    import ccxt

    body = _exchange_info(exchange_info_path)
    exchange = ccxt.binance({"enableRateLimit": False, "options": dict(SPOT_ONLY_OPTIONS)})
    # CCXT's own load_markets runs unchanged; only the HTTP answer is the recorded one.
    exchange.publicGetExchangeInfo = lambda params=None: body
    with localcontext():  # CCXT sets the thread's decimal rounding to HALF_UP
        exchange.load_markets()
    return exchange
