"""The model answer storm (make test-faults): a loopback model server rotating dozens of kinds
of bad answers over the Responses API and Chat Completions, through the real graph and client.
No bad answer moves money (whatever is sent, the cycle's checked proposal and the exchange's
rules allow), every stored answer is valid under the seed's schemas, and a whole run over the
storm, with a server error of markup at the end, prints it all as text, stores no password
from the server's URL, and exits 0."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from autotrader.db import Database
from autotrader.schemas import seed_validator
from tests.faults.answer_storm import Rotation
from tests.faults.conftest import Figures
from tests.helpers import decisions, harness, run_replay
from tests.loopback_llm import loopback_llm

pytestmark = pytest.mark.faults

APIS = {"openai": "/v1/responses", "openai-compatible": "/v1/chat/completions"}
CYCLES = 60
STEP_SECS = 300
SCHEMA = {"PLANNER": "plan", "TRADER": "proposal", "JUDGE": "verdict"}


@pytest.mark.parametrize("provider", list(APIS))
async def test_no_bad_answer_moves_money_over_either_api(
    provider: str, tmp_path: Path, figures: Figures
) -> None:
    rotation = Rotation()
    sent_orders = refused = 0
    with loopback_llm() as server:
        server.tamper = rotation
        db = Database.open(tmp_path / "storm.db")
        rig = harness(
            db,
            index=915,
            model_provider=provider,
            openai_base_url=server.base_url,
            openai_api_key="local-dummy-key",
        )
        for _ in range(CYCLES):
            await rig.clock.sleep(STEP_SECS)  # a new candle, and a new trace id
            outcome, _ = await rig.cycle()
            cycle = rig.last
            assert cycle is not None
            rules, price = rig.venue.rules, cycle.price
            qty = rules.round_amount_down(outcome.final_qty) if outcome.executable else Decimal(0)
            if not (outcome.executable and not rules.violations(qty, price)):
                refused += 1
                continue
            sent_orders += 1
            proposed = outcome.proposal.quantity
            assert (outcome.proposal.action, proposed) in cycle.checked
            smallest = rules.smallest_valid_qty(price)
            assert qty <= proposed or (proposed < smallest and qty == smallest)
    assert sent_orders > 0  # the checks above ran on real orders, not only on refusals
    assert {path for path, _, _ in server.requests} == {APIS[provider]}
    stored = decisions(db)
    for row in stored:
        assert seed_validator(SCHEMA[row.agent]).is_valid(json.loads(row.payload_json))  # type: ignore[arg-type]
    db.close()
    missing = rotation.every_kind() - set(rotation.sent)
    table = f"model answer storm ({provider}, {APIS[provider]})"
    figures.add(table, "kinds of bad answer", len(rotation.every_kind()))
    figures.add(table, "kinds sent", len(rotation.sent), "all")
    figures.add(table, "bad answers sent", sum(rotation.sent.values()))
    figures.add(table, "requests", len(server.requests))
    figures.add(table, "cycles: an order allowed / none", f"{sent_orders} / {refused}")
    figures.add(table, "stored decisions valid by the seed's schemas", len(stored), "all")
    assert not missing, f"kinds never applicable in {CYCLES} cycles: {sorted(missing)}"


@pytest.mark.parametrize("provider", list(APIS))
def test_a_run_over_the_storm_prints_answers_and_server_errors_as_text(
    provider: str, tmp_path: Path
) -> None:
    with loopback_llm() as server:
        server.tamper = rotation = Rotation(seed=3)
        server.fail_from, server.fail_status = 40, 503
        server.fail_message = "[/] overloaded \x1b[2J"
        host = server.base_url.removeprefix("http://")
        code, out = run_replay(
            tmp_path / "x[/]y.db",
            hours=3,
            start=datetime(2025, 9, 29, tzinfo=UTC),
            model_provider=provider,
            openai_base_url=f"http://me:PASS@{host}",
            openai_api_key="local-dummy-key",
            openai_model_trader="[/]",
            model_http_retries=0,
        )
    assert code == 0 and sum(rotation.sent.values()) > 10
    assert "trader=[/]" in out and "x[/]y.db" in out and "me:***@" in out
    assert "PASS" not in out and "\x1b" not in out
    assert "[/] overloaded \\x1b[2J" in out
    with sqlite3.connect(tmp_path / "x[/]y.db") as raw:
        assert raw.execute("SELECT status FROM runs").fetchall() == [("DONE",)]
        dump = "\n".join(raw.iterdump())
    assert "PASS" not in dump and "[/] overloaded" in dump  # the error is stored, not the key
