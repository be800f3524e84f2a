"""The few typed errors that reach a caller, each with a message a person can act on.

ConfigError stops the program; the TradeError family is what the trade tool raises; the loop
decides what is fatal.
"""

from __future__ import annotations

# How much of an error or a fallback's reason is stored and shown: enough to act on.
MAX_ERROR_CHARS = 300
MAX_REASON_CHARS = 500


def printable(text: str) -> str:
    """Text fit for a terminal line: control characters (escape sequences, newlines) shown as
    escapes instead of acted on."""
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def describe(error: BaseException, limit: int = MAX_ERROR_CHARS) -> str:
    """An exception as one stored line: its class and message, shortened."""
    return f"{type(error).__name__}: {error}"[:limit]


class AutotraderError(Exception):
    """Base class for every error autotrader raises on purpose."""


class ConfigError(AutotraderError):
    """A setting is invalid; the message is one line naming the setting, the value and the fix."""


class ProviderRefused(AutotraderError):
    """The model provider refused for good (a bad key, no such model, a request it rejects):
    retrying cannot help, so the run stops with the provider's reason."""


class DatabaseBusy(AutotraderError):
    """Another process writes the database, or holds its write lock past every retry."""


class DataError(AutotraderError):
    """A market-data file is malformed (the message names the file and line)."""


class TradeError(AutotraderError):
    """An order was not placed (or its outcome is unknown); nothing was half-written."""


class RejectedByRules(TradeError):
    """The order breaks the market's precision or minimum-notional rules."""


class InsufficientFunds(TradeError):
    """The account does not hold enough of the asset the order would spend."""


class CapExceeded(TradeError):
    """In real mode the order would take exposure above DEPOSIT_CAP_USDT."""


class VenueUnavailable(TradeError):
    """The venue did not answer after bounded retries; the outcome may be unknown."""


class OrderOutcomeUnknown(VenueUnavailable):
    """The order was sent but no answer came back: it may or may not exist. Look it up by its
    client order id; never resend blindly."""


class UnknownOrder(TradeError):
    """The venue has no such order (a lookup's normal "not found", not a failure)."""
