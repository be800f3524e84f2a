"""No bad model answer moves money: quantities are ASCII decimals, a revision may only lower the
quantity (or raise it to the exchange's minimum), one handoff per answer, and a verdict counts
only after the Judge's pre-trade check. Each bad answer is re-asked, then replaced by the safest
one; a property test drives random answer sequences through the real graph."""

from __future__ import annotations

import json
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from autotrader.agents.judge import revision_problem
from autotrader.agents.wire import ToolCall
from autotrader.db import Database
from autotrader.schemas import SAFE_PROPOSAL, SAFE_VERDICT, Proposal, seed_validator, to_payload
from tests.helpers import decisions, harness, run_replay
from tests.scripted import Answer, Scripted, scripted_models

# Full-width 0.0009, Arabic-Indic 1, a mixed 0.0009, mathematical bold 0.001: all Unicode digits.
UNICODE_DIGITS = [
    "\uff10.\uff10\uff10\uff10\uff19",
    "\u0661",
    "0.000\u0669",
    "\U0001d7ce.\U0001d7ce\U0001d7ce\U0001d7cf",
]
MARKET = [
    ToolCall("get_ohlcv", {"symbol": "BTC/USDT", "timeframe": "5m", "limit": 100}),
    ToolCall("compute_indicators", {"symbol": "BTC/USDT", "timeframe": "5m", "limit": 100}),
]


def proposal(action: str, qty: str) -> dict[str, Any]:
    return {
        "action": action,
        "qty": qty,
        "policy_id": "breakout",
        "hypothesis": "h",
        "confidence": 0.7,
    }


def handoff(action: str, qty: str) -> ToolCall:
    return ToolCall("transfer_to_judge", proposal(action, qty))


def verdict(decision: str, revised: str | None = None) -> str:
    return json.dumps(
        {"decision": decision, "revised_qty": revised, "violations": None, "notes": None}
    )


@pytest.mark.parametrize("qty", UNICODE_DIGITS)
def test_a_quantity_in_non_ascii_digits_is_not_a_quantity(qty: str) -> None:
    with pytest.raises(ValidationError, match="ASCII digits"):
        Proposal.model_validate(proposal("BUY", qty))
    assert not seed_validator("proposal").is_valid(proposal("BUY", qty))
    assert seed_validator("proposal").is_valid(proposal("BUY", "0.0009"))


@pytest.mark.parametrize("qty", UNICODE_DIGITS)
async def test_a_proposal_in_non_ascii_digits_is_re_asked_then_held(db: Database, qty: str) -> None:
    bad = [ToolCall("transfer_to_judge", proposal("BUY", qty))]
    trader = Scripted("TRADER", [MARKET, bad, bad, bad])
    outcome, _ = await harness(db, scripted_models(trader=trader)).cycle()
    assert outcome.proposal == SAFE_PROPOSAL and not outcome.executable
    assert "ASCII digits" in (decisions(db)[1].fallback_reason or "")


async def test_the_pre_trade_check_refuses_a_non_ascii_quantity(db: Database) -> None:
    ask = [ToolCall("pre_trade_check", {"side": "BUY", "qty": "\u0661"})]
    judge = Scripted("JUDGE", [ask])  # then the offline policy
    trader = Scripted("TRADER", [MARKET, [handoff("BUY", "0.001")]])
    rig = harness(db, scripted_models(trader=trader, judge=judge))
    await rig.cycle()
    assert rig.last is not None and ("BUY", Decimal("1")) not in rig.last.checked
    assert ("BUY", Decimal("0.001")) in rig.last.checked  # the policy's own check


async def test_a_revision_that_raises_the_quantity_is_re_asked_then_rejected(db: Database) -> None:
    trader = Scripted(
        "TRADER", [MARKET, [ToolCall("transfer_to_judge", proposal("BUY", "0.0009"))]]
    )
    check = [ToolCall("pre_trade_check", {"side": "BUY", "qty": "0.0009"})]
    raise_it = verdict("REVISE", "0.0072")
    judge = Scripted("JUDGE", [check, raise_it, raise_it, raise_it], then_offline=False)
    outcome, _ = await harness(db, scripted_models(trader=trader, judge=judge)).cycle()
    assert outcome.verdict == SAFE_VERDICT and not outcome.executable
    assert "may only lower the quantity" in (decisions(db)[2].fallback_reason or "")


def test_a_revision_may_lower_or_raise_to_the_minimum_only() -> None:
    smallest = Decimal("0.00005")
    assert revision_problem(Decimal("0.0009"), Decimal("0.0005"), smallest) is None
    assert revision_problem(Decimal("0.00001"), smallest, smallest) is None  # below the minimum
    assert revision_problem(Decimal("0.00001"), Decimal("0.0001"), smallest) is not None
    assert revision_problem(Decimal("0.0009"), Decimal("0.0072"), smallest) is not None


async def test_two_handoffs_in_one_answer_are_a_bad_answer(db: Database) -> None:
    both = [
        ToolCall("transfer_to_judge", proposal("BUY", "0.001")),
        ToolCall("transfer_to_judge", proposal("SELL", "0.001")),
    ]
    trader = Scripted("TRADER", [MARKET, both, both, both])
    outcome, _ = await harness(db, scripted_models(trader=trader)).cycle()
    assert outcome.proposal == SAFE_PROPOSAL
    assert "2 handoff calls" in (decisions(db)[1].fallback_reason or "")


async def test_an_approval_without_the_pre_trade_check_does_not_count(db: Database) -> None:
    trader = Scripted("TRADER", [MARKET, [handoff("BUY", "0.001")]])
    approve = verdict("APPROVE")
    judge = Scripted("JUDGE", [approve, approve, approve], then_offline=False)
    outcome, _ = await harness(db, scripted_models(trader=trader, judge=judge)).cycle()
    assert outcome.verdict == SAFE_VERDICT and not outcome.executable
    assert "call pre_trade_check" in (decisions(db)[2].fallback_reason or "")


# --- the property: whatever the answers, nothing is sent that the checked proposal and the
# exchange's rules would not allow ---

quantities = st.one_of(
    st.sampled_from(["0", "0.001", "0.0009", "0.00001", "0.0012345", "5", "1e-3", "-0.001"]),
    st.sampled_from(UNICODE_DIGITS),
    st.decimals(min_value=0, max_value=1, places=6).map(lambda d: format(d, "f")),
)
actions = st.sampled_from(["BUY", "SELL", "HOLD"])


@st.composite
def answer_sequences(draw: st.DrawFn) -> tuple[list[Answer], list[Answer]]:
    """A Trader's and a Judge's answers about one proposal: sometimes right, often not."""
    action, qty = draw(actions), draw(quantities)
    trader_options: list[st.SearchStrategy[Answer]] = [
        st.just(MARKET),
        st.just([handoff(action, qty)]),
        st.builds(lambda a, q: [handoff(a, q)], actions, quantities),
        st.just([handoff("BUY", qty), handoff("SELL", qty)]),
        st.just("buy everything"),
        st.just([ToolCall("place_order", {"side": "BUY"})]),
    ]
    judge_options: list[st.SearchStrategy[Answer]] = [
        st.just([ToolCall("pre_trade_check", {"side": action, "qty": qty})]),
        st.builds(
            lambda side, q: [ToolCall("pre_trade_check", {"side": side, "qty": q})],
            st.sampled_from(["BUY", "SELL"]),
            quantities,
        ),
        st.builds(verdict, st.sampled_from(["APPROVE", "REJECT"])),
        st.builds(lambda q: verdict("REVISE", q), quantities),
        st.just("approved"),
    ]
    trader = [MARKET, *draw(st.lists(st.one_of(trader_options), max_size=4))]
    judge = draw(st.lists(st.one_of(judge_options), min_size=1, max_size=5))
    return trader, judge


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(answers=answer_sequences())
async def test_no_sequence_of_answers_sends_an_order_the_checked_proposal_does_not_allow(
    answers: tuple[list[Answer], list[Answer]],
) -> None:
    trader, judge = answers
    with tempfile.TemporaryDirectory() as tmp:
        db = Database.open(Path(tmp) / "hostile.db")
        rig = harness(
            db, scripted_models(trader=Scripted("TRADER", trader), judge=Scripted("JUDGE", judge))
        )
        outcome, _ = await rig.cycle()
        cycle = rig.last
        assert cycle is not None
        rules, price = rig.venue.rules, cycle.price
        qty = rules.round_amount_down(outcome.final_qty) if outcome.executable else Decimal(0)
        sent = outcome.executable and not rules.violations(qty, price)
        event(f"sent={sent}")
        if sent:
            proposed = outcome.proposal.quantity
            assert outcome.proposal.qty.isascii() and (outcome.verdict.revised_qty or "").isascii()
            assert (outcome.proposal.action, proposed) in cycle.checked
            smallest = rules.smallest_valid_qty(price)
            assert qty <= proposed or (proposed < smallest and qty == smallest)
        for row in decisions(db):  # and every stored answer is valid, whatever was sent
            agent = {"PLANNER": "plan", "TRADER": "proposal", "JUDGE": "verdict"}[row.agent]
            assert seed_validator(agent).is_valid(json.loads(row.payload_json))  # type: ignore[arg-type]
        assert to_payload(outcome.proposal)
        db.close()


def test_the_summary_counts_every_cycle_a_fallback_decided(tmp_path: Path) -> None:
    from autotrader.research.summary import summarize

    planner = Scripted("PLANNER", ["let us buy"] * 300, then_offline=False)
    code, _ = run_replay(
        tmp_path / "fallbacks.db", hours=2, model_set=scripted_models(planner=planner)
    )
    assert code == 0
    db = Database.open(tmp_path / "fallbacks.db")
    [run_id] = [r[0] for r in db.engine.connect().exec_driver_sql("SELECT run_id FROM runs")]
    summary = summarize(db, run_id)
    assert summary.cycles > 1 and summary.fallback_cycles == summary.cycles
    db.close()


class Down(Scripted):
    """A provider that never answers."""

    async def get_response(self, *args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("the provider is down")


def test_a_run_in_which_every_cycle_failed_exits_non_zero(tmp_path: Path) -> None:
    models = scripted_models(planner=Down("PLANNER", []))
    code, out = run_replay(tmp_path / "down.db", hours=2, model_set=models)
    assert code == 1
    assert "cycles failed" in out
