"""The agent graph on the offline provider: handoffs, filters, tools, guardrail, fallbacks."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from agents import set_trace_processors
from agents.models.interface import Model

from autotrader.agents.judge import RULE, VERDICT_SCHEMA
from autotrader.agents.offline import OfflineModel
from autotrader.agents.providers import build_models, uploads_traces
from autotrader.agents.wire import ToolCall
from autotrader.config import load_settings
from autotrader.db import Database
from autotrader.db.models import SpanRecord, TraceRecord
from autotrader.db.span_store import load_spans
from autotrader.research.summary import SCHEMA_OF
from autotrader.schemas import (
    SAFE_PLAN,
    SAFE_PROPOSAL,
    SAFE_VERDICT,
    Role,
    seed_validator,
    to_payload,
)
from autotrader.tools.strategy import sma
from tests.helpers import decisions, harness, real_candles
from tests.scripted import Answer, Raw, Scripted, scripted_models


@pytest.fixture(autouse=True)
def no_trace_processors() -> Iterator[None]:
    yield
    set_trace_processors([])


def _spans(db: Database, trace_id: str) -> list[SpanRecord]:
    with db.session() as session:
        trace = session.get(TraceRecord, trace_id)
        assert trace is not None
        return load_spans(session, trace, limit=1000)


# --- the happy path ---


async def test_one_offline_cycle_writes_three_linked_valid_decisions(db: Database) -> None:
    outcome, trace_id = await harness(db).cycle()
    rows = decisions(db)
    assert [r.agent for r in rows] == ["PLANNER", "TRADER", "JUDGE"]
    assert {r.trace_id for r in rows} == {trace_id}
    planner, trader, judge = rows
    assert planner.plan_id is None and planner.proposal_id is None
    assert trader.plan_id == planner.id and trader.proposal_id is None
    assert (judge.plan_id, judge.proposal_id) == (planner.id, trader.id)
    for row in rows:
        seed_validator(SCHEMA_OF[row.agent]).validate(json.loads(row.payload_json))
        ruled = row.agent == "JUDGE" and outcome.proposal.action == "HOLD"
        assert row.model == (RULE if ruled else f"offline-{row.agent.lower()}")
        assert row.prompt_hash is not None and len(row.prompt_hash) == 12
        assert row.fallback_reason is None
    assert outcome.error is None and outcome.fallbacks == {}


async def test_the_cycles_spans_are_in_the_trace_store(db: Database) -> None:
    _, trace_id = await harness(db).cycle()
    kinds = {(s.kind, s.name) for s in _spans(db, trace_id)}
    assert {("agent", "Planner"), ("agent", "Trader"), ("agent", "Judge")} <= kinds
    assert {("handoff", "Planner -> Trader"), ("handoff", "Trader -> Judge")} <= kinds
    assert {("function", "get_ohlcv"), ("function", "compute_indicators")} <= kinds
    assert ("guardrail", "deposit_cap") in kinds
    assert any(kind == "generation" for kind, _ in kinds)


def _uptrend_index() -> int:
    """A real candle at which MA5 is clearly above MA20 (the crossover rule says LONG)."""
    closes = [c.close for c in real_candles()]
    return next(
        i
        for i in range(200, len(closes))
        if (sma(closes[: i + 1], 5) or 0) > (sma(closes[: i + 1], 20) or 0) * 1.001
    )


CROSSOVER_PLAN = {
    "mode": "TRADE",
    "explore_ratio": 0.1,
    "next_wakeup_secs": 300,
    "strategies": [{"policy_id": "ma_crossover", "params": {"fast": 5, "slow": 20}}],
}


async def test_a_trading_cycle_takes_five_model_round_trips(db: Database) -> None:
    planner = Scripted("PLANNER", [[ToolCall("transfer_to_trader", CROSSOVER_PLAN)]])
    outcome, trace_id = await harness(
        db, scripted_models(planner=planner), index=_uptrend_index()
    ).cycle()
    assert outcome.proposal.action == "BUY" and outcome.verdict.decision == "APPROVE"
    generations = [s for s in _spans(db, trace_id) if s.kind == "generation"]
    assert len(generations) == 4  # trader 2 (tools in parallel) + judge 2; the planner is scripted
    assert planner.calls == 1  # so: 5 model round trips for the cycle


HOLD_PLAN = {
    "mode": "TRADE",
    "explore_ratio": 0.1,
    "next_wakeup_secs": 300,
    "strategies": [{"policy_id": "hold", "params": {}}],
}


async def test_a_hold_cycle_takes_three_model_round_trips(db: Database) -> None:
    planner = Scripted("PLANNER", [[ToolCall("transfer_to_trader", HOLD_PLAN)]])
    outcome, trace_id = await harness(db, scripted_models(planner=planner)).cycle()
    assert outcome.proposal.action == "HOLD"
    generations = [s for s in _spans(db, trace_id) if s.kind == "generation"]
    assert len(generations) == 2  # trader 2; the Judge approves a HOLD by rule, no model call
    assert planner.calls == 1  # so: 3 model round trips for the cycle


async def test_each_agent_receives_only_its_payload_and_context(db: Database) -> None:
    trader, judge = Scripted("TRADER", []), Scripted("JUDGE", [])
    planner = Scripted("PLANNER", [[ToolCall("transfer_to_trader", CROSSOVER_PLAN)]])
    models = scripted_models(planner=planner, trader=trader, judge=judge)
    await harness(db, models, index=_uptrend_index()).cycle()  # a BUY: the Judge is asked
    first_trader_input, first_judge_input = trader.inputs[0], judge.inputs[0]
    assert len(first_trader_input) == 1 and len(first_judge_input) == 1
    assert set(json.loads(first_trader_input[0]["content"])) == {"plan", "context"}
    assert set(json.loads(first_judge_input[0]["content"])) == {"proposal", "context"}


async def test_the_judge_handoff_is_closed_until_the_trader_read_the_market(db: Database) -> None:
    eager = [ToolCall("transfer_to_judge", to_payload(SAFE_PROPOSAL))]
    trader = Scripted("TRADER", [eager, eager, eager])  # insists on skipping the tools
    outcome, trace_id = await harness(db, scripted_models(trader=trader)).cycle()
    assert "not available yet" in outcome.fallbacks["TRADER"]
    names = [s.name for s in sorted(_spans(db, trace_id), key=lambda s: s.started_at or "")]
    assert names.index("get_ohlcv") < names.index("Trader -> Judge")


def test_the_verdict_schema_is_built_once(db: Database) -> None:
    rig = harness(db)
    assert rig.graph.judge.output_type is VERDICT_SCHEMA


# --- the deposit-cap guardrail ---


async def test_guardrail_rejects_an_over_cap_buy_whatever_the_judge_said(db: Database) -> None:
    buy = [
        ToolCall("get_ohlcv", {"symbol": "BTC/USDT", "timeframe": "5m", "limit": 100}),
        ToolCall("compute_indicators", {"symbol": "BTC/USDT", "timeframe": "5m", "limit": 100}),
    ]
    big = {
        "action": "BUY",
        "qty": "0.001",
        "policy_id": "breakout",
        "hypothesis": "h",
        "confidence": 0.9,
    }
    trader = Scripted("TRADER", [buy, [ToolCall("transfer_to_judge", big)]], then_offline=False)
    approve = json.dumps(
        {"decision": "APPROVE", "revised_qty": None, "violations": None, "notes": None}
    )
    check = [ToolCall("pre_trade_check", {"side": "BUY", "qty": "0.001"})]
    judge = Scripted("JUDGE", [check, approve], then_offline=False)  # checks, then approves
    rig = harness(
        db,
        scripted_models(trader=trader, judge=judge),
        mode="real",
        exchange_api_key="k",
        exchange_api_secret="s",
        deposit_cap_usdt="5",
    )
    outcome, trace_id = await rig.cycle()
    assert (
        outcome.guardrail_violation is not None
        and "DEPOSIT_CAP_USDT=5" in outcome.guardrail_violation
    )
    assert outcome.verdict.decision == "REJECT" and not outcome.executable
    judge_row = decisions(db)[-1]
    assert json.loads(judge_row.payload_json)["decision"] == "REJECT"
    assert judge_row.fallback_reason is not None and "guardrail" in judge_row.fallback_reason
    guardrail = [s for s in _spans(db, trace_id) if s.kind == "guardrail"]
    assert json.loads(guardrail[0].data_json)["triggered"] is True


async def test_guardrail_stays_quiet_outside_real_mode(db: Database) -> None:
    outcome, _ = await harness(db, mode="paper").cycle()
    assert outcome.guardrail_violation is None


# --- bad model output: retried, then the safest output, logged; never a crash ---

GOOD_PLAN = to_payload(SAFE_PLAN) | {"mode": "TRADE"}
GOOD_PROPOSAL = {
    "action": "HOLD",
    "qty": "0",
    "policy_id": "hold",
    "hypothesis": "flat",
    "confidence": 0.5,
}
MARKET = [
    ToolCall("get_ohlcv", {"symbol": "BTC/USDT", "timeframe": "5m", "limit": 100}),
    ToolCall("compute_indicators", {"symbol": "BTC/USDT", "timeframe": "5m", "limit": 100}),
]

BAD_PLANS: dict[str, Answer] = {
    "prose instead of a handoff": "I think we should buy some bitcoin today.",
    "truncated JSON": [Raw("transfer_to_trader", '{"mode": "TRADE", "explore_ratio": 0.')],
    "wrong enum": [ToolCall("transfer_to_trader", GOOD_PLAN | {"mode": "YOLO"})],
    "extra key": [ToolCall("transfer_to_trader", GOOD_PLAN | {"leverage": 10})],
    "wakeup out of range": [ToolCall("transfer_to_trader", GOOD_PLAN | {"next_wakeup_secs": 5})],
    "unknown tool": [ToolCall("place_order", {"side": "BUY"})],
}
BAD_PROPOSALS: dict[str, dict[str, Any]] = {
    "exponent qty": GOOD_PROPOSAL | {"qty": "1e-3"},
    "negative confidence": GOOD_PROPOSAL | {"confidence": -0.2},
    "200-char hypothesis": GOOD_PROPOSAL | {"hypothesis": "x" * 200},
    "wrong action enum": GOOD_PROPOSAL | {"action": "SHORT"},
    "extra key": GOOD_PROPOSAL | {"stop_loss": "1"},
}
BAD_VERDICTS: dict[str, str] = {
    "prose": "Looks fine to me, approved.",
    "fenced JSON": '```json\n{"decision": "APPROVE"}\n```',
    "revise without qty": json.dumps(
        {"decision": "REVISE", "revised_qty": None, "violations": None, "notes": None}
    ),
    "too many violations": json.dumps(
        {"decision": "REJECT", "revised_qty": None, "violations": list("abcde"), "notes": None}
    ),
}


async def _assert_fallback(
    db: Database, model: Scripted, role: Role, safe: Any, *, trading: bool = False
) -> None:
    """`model` answers badly for `role`: the safest answer stands in, with its reason. In a
    trading cycle (a BUY at an uptrend), so the Judge's model is asked at all."""
    models: dict[str, Model] = {role.lower(): model}
    index = 2000
    if trading:
        models["planner"] = Scripted("PLANNER", [[ToolCall("transfer_to_trader", CROSSOVER_PLAN)]])
        index = _uptrend_index()
    outcome, _ = await harness(db, scripted_models(**models), index=index).cycle()
    rows = {row.agent: row for row in decisions(db)}
    assert set(rows) == {"PLANNER", "TRADER", "JUDGE"}
    assert json.loads(rows[role].payload_json) == to_payload(safe)
    reason = rows[role].fallback_reason
    assert reason is not None and "3 attempts" in reason
    assert outcome.fallbacks[role] == reason
    for row in rows.values():
        seed_validator(SCHEMA_OF[row.agent]).validate(json.loads(row.payload_json))


@pytest.mark.parametrize("case", BAD_PLANS)
async def test_bad_planner_output_becomes_a_logged_safe_plan(db: Database, case: str) -> None:
    planner = Scripted("PLANNER", [BAD_PLANS[case]] * 3)
    await _assert_fallback(db, planner, "PLANNER", SAFE_PLAN)
    assert planner.calls == 3  # model_max_retries=2: three attempts, then the fallback


@pytest.mark.parametrize("case", BAD_PROPOSALS)
async def test_bad_trader_output_becomes_a_logged_hold(db: Database, case: str) -> None:
    bad = [ToolCall("transfer_to_judge", BAD_PROPOSALS[case])]
    trader = Scripted("TRADER", [MARKET, bad, bad, bad])
    await _assert_fallback(db, trader, "TRADER", SAFE_PROPOSAL)


@pytest.mark.parametrize("case", BAD_VERDICTS)
async def test_bad_judge_output_becomes_a_logged_reject(db: Database, case: str) -> None:
    judge = Scripted("JUDGE", [BAD_VERDICTS[case]] * 3)
    await _assert_fallback(db, judge, "JUDGE", SAFE_VERDICT, trading=True)


async def test_a_trader_answering_text_is_retried_then_falls_back(db: Database) -> None:
    trader = Scripted("TRADER", [MARKET, "BUY now!", "BUY now!", "BUY now!"])
    await _assert_fallback(db, trader, "TRADER", SAFE_PROPOSAL)


async def test_output_fixed_on_a_retry_is_accepted_without_fallback(db: Database) -> None:
    planner = Scripted("PLANNER", ["let me think about it"])  # once bad, then the policy
    outcome, _ = await harness(db, scripted_models(planner=planner)).cycle()
    assert planner.calls == 2
    assert "PLANNER" not in outcome.fallbacks
    assert "rejected" in planner.inputs[1][-1]["content"]  # the model was told why


async def test_a_run_ending_on_the_wrong_agent_is_an_error_not_a_success(db: Database) -> None:
    rig = harness(db)
    rig.graph.trader.model = Scripted("TRADER", [MARKET, "I hold."])  # unguarded on purpose
    outcome, _ = await rig.cycle()
    assert outcome.error is not None and "ended on Trader" in outcome.error
    rows = {row.agent: row for row in decisions(db)}
    assert json.loads(rows["JUDGE"].payload_json) == to_payload(SAFE_VERDICT)
    assert json.loads(rows["TRADER"].payload_json) == to_payload(SAFE_PROPOSAL)
    assert rows["JUDGE"].fallback_reason is not None


# --- providers and trace upload ---


@pytest.mark.parametrize(
    ("settings", "uploads"),
    [
        ({}, False),
        ({"openai_api_key": "sk-real", "model_provider": "openai"}, True),
        ({"openai_api_key": "sk-real"}, False),  # auto: a replay stays offline
        ({"openai_api_key": "sk-real", "openai_base_url": "http://localhost:11434/v1"}, False),
        (
            {
                "model_provider": "openai-compatible",
                "openai_base_url": "http://localhost:8000/v1",
                "openai_api_key": "sk-dummy",
            },
            False,
        ),
    ],
)
def test_traces_upload_only_to_the_real_openai_api_with_a_key(
    settings: dict[str, Any], uploads: bool
) -> None:
    assert uploads_traces(load_settings(env_file=None, **settings)) is uploads


def test_the_offline_provider_is_the_default_without_a_key() -> None:
    model_set = build_models(load_settings(env_file=None))
    assert model_set.provider == "offline"
    assert all(isinstance(m, OfflineModel) for m in model_set.models.values())


async def test_a_hold_is_approved_by_rule_without_a_model_call(db: Database) -> None:
    rig = harness(db)  # index 2000: the offline Trader holds here
    outcome, _ = await rig.cycle()
    assert outcome.proposal.action == "HOLD" and outcome.verdict.decision == "APPROVE"
    assert rig.last is not None and "JUDGE" in rig.last.ruled
    assert [call.role for call in rig.last.calls] == ["PLANNER", "TRADER", "TRADER"]
