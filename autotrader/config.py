"""Settings, read once from the environment and `.env`, frozen, and validated up front.

`load_settings()` returns a valid `Settings` or raises `ConfigError` with one line naming the
setting, the value and what is allowed; it never lets a traceback reach the user.
"""

from __future__ import annotations

import difflib
import os
import re
import tempfile
from collections.abc import Mapping
from decimal import Decimal
from importlib.resources import files
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from dotenv import dotenv_values
from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from autotrader.errors import ConfigError

Mode = Literal["paper", "testnet", "real"]
Feed = Literal["replay", "live"]
Provider = Literal["openai", "openai-compatible", "offline"]

# Binance spot kline intervals (seconds); the replay feed can aggregate 5m candles into any of
# these that are multiples of the file's own step.
TIMEFRAME_SECONDS: dict[str, int] = {
    "1m": 60,
    "3m": 180,
    "5m": 300,
    "15m": 900,
    "30m": 1800,
    "1h": 3600,
    "2h": 7200,
    "4h": 14400,
    "6h": 21600,
    "8h": 28800,
    "12h": 43200,
    "1d": 86400,
}
SYMBOL_PATTERN = re.compile(r"^[A-Z0-9]{2,12}/[A-Z0-9]{2,12}$")
# Money and rates: Decimal() would also read Unicode digits (Arabic-Indic five), "1_0", "5e1".
PLAIN_DECIMAL = re.compile(r"-?([0-9]+(\.[0-9]*)?|\.[0-9]+)")
BUNDLED_CANDLES = "binance_BTCUSDT_5m_2025-09-06_2025-10-06.csv.gz"
SECRET_FIELDS = frozenset(
    {"openai_api_key", "exchange_api_key", "exchange_api_secret", "dashboard_token"}
)


def mask_url(url: str) -> str:
    """A URL fit to show or store: any password in it replaced by ***."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    userinfo, _, host = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def split_symbol(symbol: str) -> tuple[str, str]:
    """`BASE/QUOTE` as its two assets."""
    base, _, quote = symbol.partition("/")
    return base, quote


def bundled_data_path(name: str) -> Path:
    """Path of a file shipped in autotrader/data (real recorded data, see its PROVENANCE.md)."""
    return Path(str(files("autotrader.data").joinpath(name)))


class Settings(BaseSettings):
    """Every knob of autotrader; `.env.example` documents each one."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        env_ignore_empty=True,  # `KEY=` (as in .env.example) means unset, not the empty string
        extra="ignore",  # unknown keys are caught by name in load_settings, with a suggestion
        frozen=True,
    )

    # What to trade and how.
    mode: Mode = "paper"
    symbol: str = "BTC/USDT"
    timeframe: str = "5m"
    ohlcv_limit: int = Field(default=100, ge=20, le=1000)
    deposit_cap_usdt: Decimal = Field(default=Decimal("5"), ge=0, allow_inf_nan=False)
    feed: Feed | None = None
    replay_path: Path | None = None

    # Storage and logs.
    db_path: Path = Path("autotrader.db")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_file: Path | None = None  # the console's story and the log, appended here too

    # The dashboard (`runner.py serve`): required when it listens beyond this machine.
    dashboard_token: SecretStr | None = None

    # Exchange (testnet and real).
    exchange_id: str = "binance"
    exchange_api_key: SecretStr | None = None
    exchange_api_secret: SecretStr | None = None

    # Paper venue.
    paper_start_usdt: Decimal = Field(default=Decimal("1000"), gt=0, allow_inf_nan=False)
    fee_rate: Decimal = Field(default=Decimal("0.001"), ge=0, lt=Decimal("0.05"))
    slippage: Decimal = Field(default=Decimal("0.0005"), ge=0, lt=Decimal("0.05"))
    cap_price_buffer: Decimal = Field(default=Decimal("0.01"), ge=0, lt=Decimal("0.5"))
    order_fraction: Decimal = Field(default=Decimal("0.1"), gt=0, le=1)

    # Models.
    model_provider: Literal["auto", "openai", "openai-compatible", "offline"] = "auto"
    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    openai_model_planner: str = Field(default="gpt-5-mini", min_length=1)
    openai_model_trader: str = Field(default="gpt-5", min_length=1)
    openai_model_judge: str = Field(default="gpt-5-mini", min_length=1)
    model_max_retries: int = Field(default=2, ge=0, le=10)
    # Reasoning models only (gpt-5*, o-series): unset means low for the Trader and minimal
    # for the Planner and the Judge.
    openai_reasoning_effort: Literal["minimal", "low", "medium", "high"] | None = None
    model_timeout_secs: float = Field(default=60.0, gt=0, le=600, allow_inf_nan=False)
    model_http_retries: int = Field(default=2, ge=0, le=10)  # on timeouts, 429 and 5xx
    cycle_deadline_secs: float = Field(default=300.0, gt=0, le=3600, allow_inf_nan=False)
    seed: int = Field(default=7, ge=0, le=2**63 - 1)  # SQLite stores it as a signed 64-bit int

    # Research loop.
    experiment_horizon_candles: int = Field(default=3, ge=1, le=288)
    posterior_half_life_hours: float = Field(default=72.0, gt=0, allow_inf_nan=False)

    # Trace store: days of traces kept, by cycle time (0 keeps them forever); db/retention.py.
    trace_retention_days: int = Field(default=30, ge=0, le=36500)

    @field_validator("symbol")
    @classmethod
    def _symbol_is_base_quote(cls, value: str) -> str:
        if not SYMBOL_PATTERN.match(value):
            raise ValueError("must be BASE/QUOTE in capitals, e.g. BTC/USDT")
        return value

    @field_validator(
        "deposit_cap_usdt",
        "paper_start_usdt",
        "fee_rate",
        "slippage",
        "cap_price_buffer",
        "order_fraction",
        mode="before",
    )
    @classmethod
    def _amount_is_a_plain_decimal(cls, value: Any) -> Any:
        if isinstance(value, str) and not PLAIN_DECIMAL.fullmatch(value.strip()):
            raise ValueError("must be a plain decimal in ASCII digits, e.g. 5 or 0.001")
        return value.strip() if isinstance(value, str) else value

    @field_validator("timeframe")
    @classmethod
    def _timeframe_is_known(cls, value: str) -> str:
        if value not in TIMEFRAME_SECONDS:
            raise ValueError(f"must be one of {', '.join(TIMEFRAME_SECONDS)}")
        return value

    @field_validator("openai_base_url")
    @classmethod
    def _base_url_is_http(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http(s) URL such as http://localhost:11434/v1")
        try:
            parts.port  # noqa: B018 (urllib checks the port only when it is read)
        except ValueError as error:
            raise ValueError(f"has a bad port ({error}); e.g. http://localhost:11434/v1") from None
        return value

    @field_validator("replay_path", mode="before")
    @classmethod
    def _replay_path_is_a_file(cls, value: Any) -> Any:
        if value is not None and not str(value).strip():
            raise ValueError("is empty; give a candle file, or unset it for the bundled data")
        if value is not None and not Path(value).is_file():
            raise ValueError(
                "is not a file; give a candle file (CSV .csv/.csv.gz, or freqtrade .feather/.json)"
            )
        return value

    @field_validator("db_path", "log_file")
    @classmethod
    def _file_is_writable(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if value is None:
            return None
        if value.is_dir():
            example = "autotrader.db" if info.field_name == "db_path" else "autotrader.log"
            raise ValueError(f"is a directory; give a file path such as {example}")
        ancestor = value.absolute().parent
        while not ancestor.exists():
            ancestor = ancestor.parent
        try:
            if value.exists():
                with value.open("ab"):
                    pass
            else:
                # Probe by creating a file: permission bits alone mislead when running as root.
                with tempfile.TemporaryFile(dir=ancestor):
                    pass
        except OSError as error:
            where = value if value.exists() else ancestor
            raise ValueError(
                f"is not writable ({where}: {error.strerror}); choose a writable location"
            ) from None
        return value

    @model_validator(mode="after")
    def _combinations_are_consistent(self) -> Settings:
        if self.mode != "paper":
            if self.feed == "replay":
                raise ValueError(
                    f"FEED='replay' only works with MODE=paper; MODE={self.mode} trades live"
                )
            if self.exchange_api_key is None or self.exchange_api_secret is None:
                raise ValueError(
                    f"MODE={self.mode} needs EXCHANGE_API_KEY and EXCHANGE_API_SECRET; "
                    "set both, or use MODE=paper"
                )
        if self.model_provider == "openai" and self.openai_api_key is None:
            raise ValueError("MODEL_PROVIDER=openai needs OPENAI_API_KEY; set it or use offline")
        if self.model_provider == "openai-compatible" and not self.openai_base_url:
            raise ValueError(
                "MODEL_PROVIDER=openai-compatible needs OPENAI_BASE_URL, "
                "e.g. http://localhost:11434/v1"
            )
        return self

    @property
    def resolved_feed(self) -> Feed:
        """Paper mode replays the bundled candles unless FEED=live; testnet and real are live."""
        if self.feed is not None:
            return self.feed
        return "replay" if self.mode == "paper" else "live"

    @property
    def resolved_replay_path(self) -> Path:
        return self.replay_path or bundled_data_path(BUNDLED_CANDLES)

    @property
    def provider(self) -> Provider:
        return self.provider_choice[0]

    @property
    def provider_choice(self) -> tuple[Provider, str]:
        """The provider, and why: MODEL_PROVIDER=auto picks a compatible server when
        OPENAI_BASE_URL is set, OpenAI when a key is set and the feed is live, and the offline
        model otherwise: a replay never spends API money unless asked to explicitly."""
        if self.model_provider != "auto":
            return self.model_provider, f"MODEL_PROVIDER={self.model_provider}"
        if self.openai_base_url:
            return "openai-compatible", "auto: OPENAI_BASE_URL is set"
        if self.openai_api_key is not None and self.resolved_feed == "live":
            return "openai", "auto: OPENAI_API_KEY is set and the feed is live"
        if self.openai_api_key is not None:
            return "offline", "auto: a replay uses the offline model (MODEL_PROVIDER=openai to pay)"
        return "offline", "auto: no OPENAI_API_KEY"

    @property
    def timeframe_seconds(self) -> int:
        return TIMEFRAME_SECONDS[self.timeframe]

    @property
    def base_asset(self) -> str:
        return split_symbol(self.symbol)[0]

    @property
    def quote_asset(self) -> str:
        return split_symbol(self.symbol)[1]

    @property
    def cap_enforced(self) -> bool:
        """The deposit cap guards real money only."""
        return self.mode == "real"

    @property
    def half_life_secs(self) -> float:
        return self.posterior_half_life_hours * 3600


def setting_names() -> list[str]:
    return [name.upper() for name in Settings.model_fields]


def closest_setting(name: str) -> str | None:
    found = difflib.get_close_matches(name.upper(), setting_names(), n=1, cutoff=0.6)
    return found[0] if found else None


def misspelled(name: str, settings: list[str]) -> str | None:
    """The setting an environment variable looks like a slip of: the same letters in another
    order (MDOE), or a long name one or two edits away (OPENAI_MODEL_TRAIDER). Unrelated
    variables (HOME, PATH) are far from every setting by these rules."""
    upper = name.upper()
    if upper in settings:
        return None
    for setting in settings:
        if len(upper) == len(setting) and sorted(upper) == sorted(setting):
            return setting
        if len(setting) >= 8 and upper[:3] == setting[:3] and _edits(upper, setting) <= 2:
            return setting
    return None


def _edits(a: str, b: str) -> int:
    """Levenshtein distance (small strings only)."""
    previous = list(range(len(b) + 1))
    for i, left in enumerate(a, start=1):
        current = [i]
        for j, right in enumerate(b, start=1):
            current.append(
                min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (left != right))
            )
        previous = current
    return previous[-1]


# Empty means unset, except where unset silently means something else the user did not ask for
# (another candle file, another database): there an empty value is refused by name.
EMPTY_IS_A_MISTAKE = {"REPLAY_PATH": "a candle file", "DB_PATH": "a database file"}


def check_names(env_file: str | None, environ: Mapping[str, str]) -> None:
    """ConfigError for a key in `.env` that is no setting, or an environment variable that is a
    slip of one: either would be silently ignored. Also for an empty REPLAY_PATH or DB_PATH."""
    names = setting_names()
    given = dict(environ)
    if env_file and Path(env_file).is_file():
        from_file = dotenv_values(env_file)
        for key in from_file:
            if key.upper() not in names:
                hint = closest_setting(key)
                fix = f"did you mean {hint}?" if hint else "see .env.example for the settings"
                raise ConfigError(f"unknown setting {key} in {env_file}; {fix}")
        given = {**{k: v or "" for k, v in from_file.items()}, **given}
    for key, what in EMPTY_IS_A_MISTAKE.items():
        if key in given and not given[key].strip():
            raise ConfigError(
                f"invalid setting {key}='': is empty; give {what}, or remove {key} for the default"
            )
    for key in environ:
        if (hint := misspelled(key, names)) is not None:
            raise ConfigError(
                f"environment variable {key} is not a setting; did you mean {hint}? "
                f"(unset {key} or rename it)"
            )


def load_settings(
    env_file: str | None = ".env", *, environ: Mapping[str, str] | None = None, **overrides: Any
) -> Settings:
    """Build Settings from environment, `.env` and explicit overrides (the CLI's flags)."""
    check_names(env_file, os.environ if environ is None else environ)
    given = {key: value for key, value in overrides.items() if value is not None}
    try:
        return Settings(_env_file=env_file, **given)
    except ValidationError as error:
        raise ConfigError(describe_validation_error(error)) from None


def describe_validation_error(error: ValidationError) -> str:
    """One line for the first problem: the setting, its value (never a secret) and the fix."""
    first = error.errors(include_url=False)[0]
    message = str(first["msg"]).removeprefix("Value error, ")
    if not first["loc"]:
        return f"invalid settings: {message}"
    field = str(first["loc"][0])
    given = first.get("input")
    if field == "openai_base_url" and isinstance(given, str):
        given = mask_url(given)
    shown = "<hidden>" if field in SECRET_FIELDS else repr(given)
    return f"invalid setting {field.upper()}={shown}: {message}"
