"""A real local LLM drives the whole graph: `python -m autotrader.localllm replay` (what `make
llm` runs) starts llama.cpp's server with SmolLM2-135M-Instruct, replays simulated hours with
the openai-compatible provider on it, and stops the server. The run must finish (exit 0), store
only payloads valid against the seed schemas, give every fallback its reason, and execute no
order that an invalid or fallback output decided. Needs the local-llm extra: `make test-llm`.

It replays 3 simulated hours (4 hourly cycles when the Planner wakes every candle), half of what
`make llm` replays: a cycle takes the 135M model 3 to 6 minutes on a shared 2-core machine, and
CI runs this after everything else."""

from __future__ import annotations

import json
import re
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from autotrader.research.summary import SCHEMA_OF
from autotrader.schemas import Plan, Proposal, Verdict, seed_schema
from tests.conftest import clean_env

pytestmark = pytest.mark.llm
HOURS = 3
PAYLOAD_TYPES: dict[str, type[Plan | Proposal | Verdict]] = {
    "PLANNER": Plan,
    "TRADER": Proposal,
    "JUDGE": Verdict,
}


@dataclass(frozen=True)
class LlmRun:
    code: int
    output: str
    db: Path

    def rows(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        with sqlite3.connect(f"file:{self.db}?mode=ro", uri=True) as raw:
            return raw.execute(query, params).fetchall()


@pytest.fixture(scope="module")
def llm_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlmRun]:
    db = tmp_path_factory.mktemp("llm") / "llm.db"
    command = [sys.executable, "-m", "autotrader.localllm", "replay", "--hours", str(HOURS)]
    done = subprocess.run(
        [*command, "--db", str(db)],
        cwd=db.parent,  # no developer's .env is read
        env=clean_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    print(done.stdout[-4000:])  # the cycles and the run's report: `make test-llm` shows them
    yield LlmRun(done.returncode, done.stdout + done.stderr, db)


def ascii_validator(schema: dict[str, Any]) -> Any:
    r"""Draft-07 with JSON Schema's own pattern meaning: `\d` is [0-9], never another script's
    digit (Python's `re` needs re.ASCII for that)."""

    def pattern(validator: Any, regex: str, instance: Any, _schema: Any) -> Any:
        if validator.is_type(instance, "string") and not re.search(regex, instance, re.ASCII):
            yield jsonschema.ValidationError(f"{instance!r} does not match {regex!r}")

    extended = jsonschema.validators.extend(  # type: ignore[no-untyped-call]
        jsonschema.Draft7Validator, {"pattern": pattern}
    )
    return extended(schema)


def test_the_loop_finishes_with_exit_code_0(llm_run: LlmRun) -> None:
    assert llm_run.code == 0, llm_run.output[-3000:]
    [(status, provider, models, start, end)] = llm_run.rows(
        "SELECT status, provider, models_json, sim_start, sim_end FROM runs"
    )
    assert (status, provider) == ("DONE", "openai-compatible")
    assert set(json.loads(models).values()) == {"smollm2"}
    hours = datetime.fromisoformat(end) - datetime.fromisoformat(start)
    assert hours == timedelta(hours=HOURS)
    [(cycles, errors)] = llm_run.rows("SELECT count(*), sum(status = 'ERROR') FROM cycles")
    assert cycles > 0 and errors == 0
    assert "decided by the model" in llm_run.output  # the per-agent report was printed


def test_the_model_was_asked_every_cycle(llm_run: LlmRun) -> None:
    calls = [row[0] for row in llm_run.rows("SELECT model_calls FROM cycles")]
    assert calls and min(calls) >= 3  # at least one call per agent
    models = {row[0] for row in llm_run.rows("SELECT DISTINCT model FROM decisions")}
    assert models == {"smollm2"}


def test_cycles_are_whole_candles_apart(llm_run: LlmRun) -> None:
    times = [datetime.fromisoformat(row[0]) for row in llm_run.rows("SELECT cycle_ts FROM cycles")]
    gaps = [later - earlier for earlier, later in pairwise(times)]
    assert all(gap.total_seconds() % 3600 == 0 for gap in gaps)  # TIMEFRAME=1h, as make llm


def test_every_stored_payload_is_valid_against_the_seed_schemas(llm_run: LlmRun) -> None:
    validators = {agent: ascii_validator(seed_schema(name)) for agent, name in SCHEMA_OF.items()}
    rows = llm_run.rows("SELECT agent, payload_json FROM decisions")
    invalid = [(a, p) for a, p in rows if not validators[a].is_valid(json.loads(p))]
    assert rows and invalid == []


def test_every_fallback_has_its_reason(llm_run: LlmRun) -> None:
    cycles = llm_run.rows(
        "SELECT c.fallbacks, count(d.fallback_reason) FROM cycles c "
        "JOIN decisions d ON d.trace_id = c.trace_id GROUP BY c.id"
    )
    assert cycles and all(reasons >= fallbacks for fallbacks, reasons in cycles)
    reasons = [row[0] for row in llm_run.rows("SELECT fallback_reason FROM decisions")]
    assert all(reason is None or reason.strip() for reason in reasons)
    safe = llm_run.rows(
        "SELECT count(*) FROM decisions WHERE fallback_reason IS NULL AND ("
        "json_extract(payload_json, '$.hypothesis') = 'fallback: no valid proposal' OR "
        "json_extract(payload_json, '$.violations[0]') = 'fallback: no valid verdict')"
    )
    assert safe == [(0,)]  # a safe fallback payload never appears without its reason


def test_no_order_is_sent_from_an_invalid_or_fallback_output(llm_run: LlmRun) -> None:
    orders = llm_run.rows("SELECT trace_id, side, qty FROM orders")  # sent, filled or refused
    executed = llm_run.rows("SELECT trace_id FROM cycles WHERE executed = 1")
    assert {row[0] for row in executed} <= {row[0] for row in orders}
    for trace_id, side, qty in orders:
        decided = {
            agent: (PAYLOAD_TYPES[agent].model_validate_json(payload, strict=True), reason)
            for agent, payload, reason in llm_run.rows(
                "SELECT agent, payload_json, fallback_reason FROM decisions WHERE trace_id = ?",
                trace_id,
            )
        }
        (plan, plan_reason), (proposal, proposal_reason), (verdict, verdict_reason) = (
            decided["PLANNER"],
            decided["TRADER"],
            decided["JUDGE"],
        )
        assert None is plan_reason is proposal_reason is verdict_reason, trace_id
        assert isinstance(plan, Plan) and plan.mode == "TRADE"
        assert isinstance(proposal, Proposal) and proposal.action == side
        assert isinstance(verdict, Verdict) and verdict.decision in ("APPROVE", "REVISE")
        assert 0 < Decimal(qty) <= Decimal(verdict.revised_qty or proposal.qty)  # on the step


def test_no_fill_exceeds_what_the_account_could_afford(llm_run: LlmRun) -> None:
    """The 135M model proposes and approves orders many times the account (10 BTC from 1,000
    USDT): whatever it decides, each fill must fit the balances it was made from."""
    [(usdt, btc)] = llm_run.rows(
        "SELECT balance_usdt, balance_btc FROM portfolio ORDER BY id LIMIT 1"
    )  # the mark before the first cycle: the balance the run started with
    quote, base = Decimal(usdt), Decimal(btc)
    trades = llm_run.rows("SELECT side, qty, price, fee, fee_asset FROM trades ORDER BY id")
    filled = llm_run.rows("SELECT count(*) FROM orders WHERE status = 'FILLED'")
    assert filled == [(len(trades),)]  # every filled order is booked as a trade, once
    for side, qty, price, fee, fee_asset in trades:
        cost, fee_usdt = Decimal(qty) * Decimal(price), Decimal(fee) * (fee_asset == "USDT")
        if side == "BUY":
            quote -= cost + fee_usdt
            base += Decimal(qty) - Decimal(fee) * (fee_asset == "BTC")
        else:
            base -= Decimal(qty) + Decimal(fee) * (fee_asset == "BTC")
            quote += cost - fee_usdt
        assert quote >= 0 and base >= 0, (side, qty, price)


def test_the_server_is_stopped_after_the_run(llm_run: LlmRun) -> None:
    found = re.search(r"at http://127\.0\.0\.1:(\d+)/v1", llm_run.output)
    assert found, llm_run.output[-2000:]
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", int(found.group(1)))) != 0
