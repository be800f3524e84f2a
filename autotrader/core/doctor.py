"""`runner.py doctor`: check what a run needs before it starts (settings, the database, the venue
and its market rules, each configured model) and say in one line each what is wrong and how to
fix it. Exit 0 when everything answers, 1 otherwise."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rich.console import Console
from rich.table import Table
from rich.text import Text

from autotrader.agents.providers import build_models, ping
from autotrader.clock import SimulatedClock, from_ms
from autotrader.config import Settings
from autotrader.db import Database
from autotrader.db.migrations import LATEST_VERSION
from autotrader.errors import AutotraderError, printable
from autotrader.exchange.ccxt_calls import call_exchange
from autotrader.exchange.ccxt_venue import build_exchange
from autotrader.exchange.feeds import ReplayFeed
from autotrader.exchange.retry import RetryPolicy
from autotrader.exchange.rules import MarketRules


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def _guarded(name: str, probe: Callable[[], str]) -> Check:
    try:
        return Check(name, True, probe())
    except AutotraderError as error:
        return Check(name, False, str(error))
    except Exception as error:  # anything else is a finding too, shown in one line
        return Check(name, False, f"{type(error).__name__}: {error}")


def _database(settings: Settings) -> str:
    db = Database.open(settings.db_path)
    db.close()
    return f"{settings.db_path}: writable, at schema version {LATEST_VERSION}"


def _venue(settings: Settings) -> str:
    if settings.resolved_feed == "replay":
        feed = ReplayFeed.from_file(
            settings.resolved_replay_path,
            settings.symbol,
            settings.timeframe,
            SimulatedClock(from_ms(0)),
        )
        MarketRules.recorded(settings.symbol)
        return (
            f"replay {settings.resolved_replay_path.name}: "
            f"{from_ms(feed.first_close_ms):%Y-%m-%d} -> {from_ms(feed.last_close_ms):%Y-%m-%d}, "
            f"{settings.symbol} rules loaded"
        )
    exchange = build_exchange(settings, with_keys=settings.mode != "paper")
    call_exchange(RetryPolicy(attempts=2), exchange.load_markets)
    rules = MarketRules.of(exchange, settings.symbol)
    detail = f"{exchange.id} reachable, {settings.symbol} step {rules.amount_step}"
    if settings.mode != "paper":
        call_exchange(RetryPolicy(attempts=2), exchange.fetch_balance)
        detail += ", the API key reads the balance"
    return detail


async def run_doctor(settings: Settings, console: Console) -> int:
    provider, why = settings.provider_choice
    checks = [
        Check("settings", True, f"MODE={settings.mode}, provider {provider} ({why})"),
        _guarded("database", lambda: _database(settings)),
        _guarded("venue", lambda: _venue(settings)),
    ]
    try:
        model_set = build_models(settings)
        for answer in await ping(model_set):
            checks.append(Check(f"model {answer.model}", answer.ok, answer.detail))
    except Exception as error:
        checks.append(Check("models", False, f"{type(error).__name__}: {error}"))
    table = Table(title="runner.py doctor", show_header=False)
    table.add_column()
    table.add_column()
    table.add_column(overflow="fold")
    for check in checks:
        mark = Text("ok", style="green") if check.ok else Text("FAIL", style="bold red")
        table.add_row(check.name, mark, Text(printable(check.detail)))
    console.print(table)
    failed = [check for check in checks if not check.ok]
    for check in failed:
        console.print(Text(f"{check.name}: {printable(check.detail)}"), style="red")
    return 1 if failed else 0
