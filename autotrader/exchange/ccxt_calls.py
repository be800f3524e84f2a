"""Calling CCXT safely: transient failures retry with jittered exponential backoff, a bounded
number of times; permanent ones fail at once. What escapes is one of our typed errors, with any
signature or key scrubbed from the message.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import localcontext
from typing import Any, TypeVar

import ccxt
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
)

from autotrader.errors import (
    MAX_ERROR_CHARS,
    ConfigError,
    InsufficientFunds,
    RejectedByRules,
    UnknownOrder,
    VenueUnavailable,
)
from autotrader.exchange.retry import RetryPolicy

T = TypeVar("T")

# RequestTimeout, ExchangeNotAvailable, RateLimitExceeded, DDoSProtection (Binance's 429/418)
# and InvalidNonce are all NetworkError subclasses in CCXT; note the middle two are siblings.
TRANSIENT: tuple[type[Exception], ...] = (ccxt.NetworkError,)
MAX_RETRY_AFTER_SECS = 60.0  # a longer Retry-After is a maintenance window: fail, retry next cycle
_SECRET_PARAMS = re.compile(r"(signature|timestamp|recvWindow|apiKey|secret)=[^&\s\"']+", re.I)


def scrub(message: str) -> str:
    """Drop signatures, timestamps and keys that CCXT may echo in an error message."""
    return _SECRET_PARAMS.sub(r"\1=<scrubbed>", message)[:MAX_ERROR_CHARS]


def translate(error: Exception, what: str) -> Exception:
    """Map a CCXT exception to the typed error a caller can act on."""
    detail = scrub(f"{type(error).__name__}: {error}")
    if isinstance(error, ccxt.BadSymbol):
        return ConfigError(f"{what}: the exchange does not list this SYMBOL ({detail})")
    if isinstance(error, ccxt.AuthenticationError | ccxt.PermissionDenied):
        return ConfigError(
            f"{what}: the exchange refused the API key ({detail}); "
            "check EXCHANGE_API_KEY, EXCHANGE_API_SECRET and the key's permissions"
        )
    if isinstance(error, ccxt.InsufficientFunds):
        return InsufficientFunds(f"{what}: {detail}")
    if isinstance(error, ccxt.OrderNotFound):  # before InvalidOrder, its parent
        return UnknownOrder(f"{what}: {detail}")
    if isinstance(error, ccxt.InvalidOrder | ccxt.BadRequest):
        return RejectedByRules(f"{what}: the exchange rejected the order ({detail})")
    return VenueUnavailable(f"{what}: {detail}")


def retry_after_secs(exchange: Any) -> float:
    """What the exchange's last answer asked us to wait (Retry-After on 429/418), else 0."""
    headers = getattr(exchange, "last_response_headers", None) or {}
    value = next((v for k, v in dict(headers).items() if str(k).lower() == "retry-after"), None)
    try:
        return min(MAX_RETRY_AFTER_SECS, max(0.0, float(value))) if value is not None else 0.0
    except (TypeError, ValueError):
        return 0.0


def call_exchange(policy: RetryPolicy, method: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call a read-only CCXT method with retries on transient errors (never an order POST),
    waiting at least as long as a 429/418's Retry-After asks."""
    what = getattr(method, "__name__", "exchange call")
    backoff = policy.wait()
    exchange = getattr(method, "__self__", None)

    def wait(state: RetryCallState) -> float:
        return max(float(backoff(state)), retry_after_secs(exchange))

    retrying = Retrying(
        stop=stop_after_attempt(policy.attempts),
        wait=wait,
        retry=retry_if_exception_type(TRANSIENT),
        reraise=True,
        sleep=policy.sleep,
    )
    try:
        with localcontext():  # CCXT sets the thread's decimal rounding to HALF_UP; contain it
            return retrying(method, *args, **kwargs)
    except ccxt.BaseError as error:
        raised = translate(error, what)
        if isinstance(raised, VenueUnavailable) and isinstance(error, TRANSIENT):
            raised = VenueUnavailable(f"{what} failed {policy.attempts} times: {raised}")
        raise raised from None
