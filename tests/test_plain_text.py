"""What did not come from our code (model answers, tool arguments, server errors, settings,
paths) reaches the terminal as text: console markup shown as written, never parsed, and control
characters (a clear-screen escape, a newline that would fake a line) shown escaped."""

from __future__ import annotations

import io
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from rich.console import Console

from autotrader.agents.wire import ToolCall
from autotrader.core.boot import configure_logging
from autotrader.core.console import ConsoleView, print_trace
from autotrader.core.inspect import decisions_view
from autotrader.db import Database
from tests.helpers import harness
from tests.scripted import Scripted, scripted_models

HOSTILE = "\x1b[2J[/][bold]x[/bold] [type=string_type, input_value=42]\nFAKE LINE"
SHOWN = "\\x1b[2J[/][bold]x[/bold] [type=string_type, input_value=42]\\nFAKE LINE"


def _printed(render: object) -> str:
    out = io.StringIO()
    Console(file=out, width=400).print(render)
    return out.getvalue()


@pytest.fixture
async def hostile_trace(db: Database) -> AsyncIterator[tuple[Database, str]]:
    """One cycle in which the Trader's tool argument and hypothesis are hostile text."""
    market = [
        ToolCall("get_ohlcv", {"symbol": HOSTILE, "timeframe": "5m", "limit": 100}),
        ToolCall("compute_indicators", {"symbol": "BTC/USDT", "timeframe": "5m", "limit": 100}),
    ]
    proposal = {
        "action": "HOLD",
        "qty": "0",
        "policy_id": "hold",
        "hypothesis": HOSTILE,
        "confidence": 0.5,
    }
    trader = Scripted("TRADER", [market, [ToolCall("transfer_to_judge", proposal)]])
    _, trace_id = await harness(db, scripted_models(trader=trader)).cycle()
    yield db, trace_id


def test_trace_prints_a_stored_tool_argument_as_text(hostile_trace: tuple[Database, str]) -> None:
    db, trace_id = hostile_trace
    out = io.StringIO()
    print_trace(db, trace_id, Console(file=out, width=400))
    text = out.getvalue()
    assert "\x1b" not in text
    assert "not \\x1b[2J[/][bold]x[/bold] [type=string_type" in text  # the tool's error


def test_decisions_prints_a_stored_hypothesis_as_text(hostile_trace: tuple[Database, str]) -> None:
    db, trace_id = hostile_trace
    text = _printed(decisions_view(db, trace_id))
    assert "\x1b" not in text
    assert SHOWN in " ".join(line.strip(" │") for line in text.splitlines())


def test_a_note_shows_brackets_and_escapes_control_characters() -> None:
    out = io.StringIO()
    ConsoleView(Console(file=out, width=400)).note(f"model error: {HOSTILE}", level="WARNING")
    assert out.getvalue().strip() == f"model error: {SHOWN}"


def test_the_banner_prints_settings_and_paths_as_text() -> None:
    out = io.StringIO()
    ConsoleView(Console(file=out, width=400)).banner(
        {"models": "trader=[/]", "database": "x[/]y.db\x1b[2J"}
    )
    text = out.getvalue()
    assert "trader=[/]" in text and "x[/]y.db\\x1b[2J" in text and "\x1b" not in text


def test_a_log_record_quoting_a_server_is_printed_as_text(tmp_path: Path) -> None:
    out, log_file = io.StringIO(), io.StringIO()
    configure_logging(Console(file=out, width=400), "INFO", log_file)
    try:
        logging.getLogger("autotrader.test").warning("server said %s", HOSTILE)
    finally:
        logging.basicConfig(force=True)
    assert SHOWN in out.getvalue() and SHOWN in log_file.getvalue()
    assert "\x1b" not in out.getvalue() + log_file.getvalue()


def test_the_endpoint_shown_for_a_server_masks_its_password() -> None:
    from autotrader.agents.providers import build_models
    from autotrader.config import load_settings

    settings = load_settings(
        env_file=None, environ={}, openai_base_url="http://me:PASS@127.0.0.1:9/v1"
    )
    assert build_models(settings).endpoint == "http://me:***@127.0.0.1:9/v1"
