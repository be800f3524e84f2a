"""A sweep spec (TOML), validated by pydantic: the grid of candle files and windows, symbols,
timeframes, settings to vary, seeds and fixed-arm baselines. `load_spec` returns a valid spec
or raises ConfigError with one line naming the spec, the key and the fix.

    name = "dev"
    seeds = [1, 2, 3]
    baselines = "all"               # fixed arms: "all", a list of arm names, or []
    [settings]                      # every job: any Settings field, named as in .env
    FEE_RATE = "0.001"
    [vary]                          # each combination is one configuration
    ORDER_FRACTION = ["0.1", "0.25"]
    [[data]]
    file = "binance_BTCUSDT_5m_2023-01-01_2023-03-31.csv.gz"   # resolved against --data
    symbol = "BTC/USDT"
    timeframes = ["5m", "1h"]
    walk_forward = { window = "30d", step = "15d" }            # or windows = [{from=, until=}]
"""

from __future__ import annotations

import re
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from autotrader.config import SYMBOL_PATTERN, TIMEFRAME_SECONDS, Settings
from autotrader.errors import ConfigError
from autotrader.research.arms import ARM_PRESETS

# Set by the sweep for each job, so not a setting a spec may fix or vary.
OWNED_SETTINGS = frozenset(
    {"db_path", "replay_path", "symbol", "timeframe", "seed", "mode", "feed"}
)
DURATION = re.compile(r"^(?P<count>\d+)(?P<unit>[mhd])$")
UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400}
Scalar = str | int | float | bool


def parse_duration(text: str) -> timedelta:
    found = DURATION.match(text)
    if not found or int(found["count"]) == 0:
        raise ValueError(f"{text!r} is not a duration; write e.g. 90m, 6h or 30d")
    return timedelta(seconds=int(found["count"]) * UNIT_SECONDS[found["unit"]])


def duration_text(span: timedelta) -> str:
    seconds = int(span.total_seconds())
    for unit in ("d", "h", "m"):
        if seconds % UNIT_SECONDS[unit] == 0:
            return f"{seconds // UNIT_SECONDS[unit]}{unit}"
    return f"{seconds}s"


def parse_moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{text!r} is not an ISO date or datetime, e.g. 2025-09-20T12:00"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Window(_Strict):
    start: datetime = Field(alias="from")
    until: datetime

    @field_validator("start", "until", mode="before")
    @classmethod
    def _moment(cls, value: Any) -> Any:
        if isinstance(value, datetime):
            return value.replace(tzinfo=UTC) if value.tzinfo is None else value
        if hasattr(value, "isoformat"):  # a TOML date
            return parse_moment(value.isoformat())
        return parse_moment(str(value))

    @model_validator(mode="after")
    def _forward(self) -> Window:
        if self.until <= self.start:
            raise ValueError(f"until {self.until:%Y-%m-%d %H:%M} is not after from")
        return self


class WalkForward(_Strict):
    """Windows of `window` length, one every `step`, over the file's replayable span."""

    window: timedelta
    step: timedelta

    @field_validator("window", "step", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> timedelta:
        return parse_duration(str(value))


class DataSet(_Strict):
    file: str = Field(min_length=1)
    symbol: str
    timeframes: list[str] = Field(min_length=1)
    windows: list[Window] | None = None
    walk_forward: WalkForward | None = None

    @field_validator("symbol")
    @classmethod
    def _symbol(cls, value: str) -> str:
        if not SYMBOL_PATTERN.match(value):
            raise ValueError(f"{value!r} must be BASE/QUOTE in capitals, e.g. BTC/USDT")
        return value

    @field_validator("timeframes")
    @classmethod
    def _timeframes(cls, value: list[str]) -> list[str]:
        unknown = [tf for tf in value if tf not in TIMEFRAME_SECONDS]
        if unknown:
            raise ValueError(f"{unknown[0]!r} is not one of {', '.join(TIMEFRAME_SECONDS)}")
        return value

    @model_validator(mode="after")
    def _one_way_to_window(self) -> DataSet:
        if (self.windows is None) == (self.walk_forward is None):
            raise ValueError(f"{self.file}: give either windows or walk_forward (one of them)")
        return self


class SweepSpec(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    seeds: list[int] = Field(min_length=1)
    agent: bool = True
    baselines: Literal["all"] | list[str] = "all"
    settings: dict[str, Scalar] = Field(default_factory=dict)
    vary: dict[str, list[Scalar]] = Field(default_factory=dict)
    data: list[DataSet] = Field(min_length=1)

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, value: list[int]) -> list[int]:
        if len(set(value)) != len(value):
            raise ValueError("lists a seed twice")
        if any(not 0 <= seed < 2**63 for seed in value):
            raise ValueError("must be integers from 0 to 2**63 - 1")
        return value

    @field_validator("baselines")
    @classmethod
    def _arms(cls, value: Literal["all"] | list[str]) -> Literal["all"] | list[str]:
        unknown = [arm for arm in value if arm not in ARM_PRESETS] if value != "all" else []
        if unknown:
            raise ValueError(f"{unknown[0]!r} is not an arm; arms are {', '.join(ARM_PRESETS)}")
        return value

    @field_validator("settings", "vary")
    @classmethod
    def _setting_names(cls, value: dict[str, Any]) -> dict[str, Any]:
        for name, given in value.items():
            field = name.lower()
            if field not in Settings.model_fields:
                raise ValueError(f"{name} is not a setting (see .env.example)")
            if field in OWNED_SETTINGS:
                raise ValueError(f"{name} is set by the sweep for each job; use the grid instead")
            if isinstance(given, list) and not given:
                raise ValueError(f"{name} lists no values")
        return value

    @model_validator(mode="after")
    def _runs_something(self) -> SweepSpec:
        if not self.agent and not self.arms:
            raise ValueError("runs nothing: set agent = true or list baselines")
        return self

    @property
    def arms(self) -> list[str]:
        return list(ARM_PRESETS) if self.baselines == "all" else list(self.baselines)


def _where(loc: tuple[int | str, ...]) -> str:
    parts = [f"[{part}]" if isinstance(part, int) else str(part) for part in loc]
    return ".".join(parts).replace(".[", "[")


def load_spec(path: Path) -> SweepSpec:
    """Read and validate a TOML sweep spec; ConfigError with one line on any problem."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(f"sweep spec {path}: cannot read it ({error.strerror})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"sweep spec {path}: not valid TOML ({error})") from None
    try:
        return SweepSpec.model_validate(raw)
    except ValidationError as error:
        # A misspelt key is the likelier mistake than the missing one it was meant to be.
        errors = sorted(
            error.errors(include_url=False), key=lambda e: e["type"] != "extra_forbidden"
        )
        first = errors[0]
        message = str(first["msg"]).removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            message = "is not a key of a sweep spec (see sweeps/dev.toml)"
        where = _where(tuple(first["loc"]))
        shown = first["type"] != "missing" and not isinstance(first.get("input"), dict)
        given = f" = {str(first.get('input'))[:60]!r}" if shown else ""
        key = f" {where}{given}" if where else ""
        raise ConfigError(f"sweep spec {path}:{key}: {message}") from None
