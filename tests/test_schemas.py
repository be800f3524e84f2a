"""Plan, Proposal and Verdict produce exactly the seed's JSON, and nothing else gets through."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from autotrader.schemas import (
    SAFE_PLAN,
    SAFE_PROPOSAL,
    SAFE_VERDICT,
    Breakout,
    BreakoutParams,
    Hold,
    HoldParams,
    MaCrossover,
    MaCrossoverParams,
    Plan,
    Proposal,
    RsiMeanReversion,
    RsiMeanReversionParams,
    Verdict,
    seed_validator,
    to_payload,
)

VALIDATORS = {name: seed_validator(name) for name in ("plan", "proposal", "verdict")}

qty = st.from_regex(r"\A[0-9]{1,8}(\.[0-9]{1,8})?\Z")
unit = st.floats(min_value=0, max_value=1, allow_nan=False)
short_text = st.text(max_size=120)


@st.composite
def rsi(draw: st.DrawFn) -> RsiMeanReversion:
    oversold = draw(st.floats(min_value=5, max_value=49))
    overbought = draw(st.floats(min_value=max(50.0, oversold + 0.5), max_value=95))
    params = RsiMeanReversionParams(
        period=draw(st.integers(2, 50)), oversold=oversold, overbought=overbought
    )
    return RsiMeanReversion(policy_id="rsi_mean_reversion", params=params)


@st.composite
def crossover(draw: st.DrawFn) -> MaCrossover:
    fast = draw(st.integers(2, 50))
    params = MaCrossoverParams(fast=fast, slow=draw(st.integers(max(3, fast + 1), 200)))
    return MaCrossover(policy_id="ma_crossover", params=params)


strategy = st.one_of(
    rsi(),
    crossover(),
    st.builds(
        Breakout,
        policy_id=st.just("breakout"),
        params=st.builds(BreakoutParams, lookback=st.integers(5, 200)),
    ),
    st.just(Hold(policy_id="hold", params=HoldParams())),
)
plans = st.builds(
    Plan,
    mode=st.sampled_from(["OBSERVE", "TRADE"]),
    explore_ratio=unit,
    next_wakeup_secs=st.integers(30, 3600),
    strategies=st.lists(strategy, min_size=1, max_size=3),
)
proposals = st.builds(
    Proposal,
    action=st.sampled_from(["BUY", "SELL", "HOLD"]),
    qty=qty,
    policy_id=st.sampled_from(["rsi_mean_reversion", "ma_crossover", "breakout", "hold"]),
    hypothesis=short_text,
    confidence=unit,
)
verdicts = st.builds(
    Verdict,
    decision=st.sampled_from(["APPROVE", "REJECT"]),
    revised_qty=st.none() | qty,
    violations=st.none() | st.lists(st.text(max_size=40), max_size=4),
    notes=st.none() | short_text,
) | st.builds(
    Verdict,
    decision=st.just("REVISE"),
    revised_qty=qty,
    violations=st.none() | st.lists(st.text(max_size=40), max_size=4),
    notes=st.none() | short_text,
)


@given(plans)
def test_every_plan_validates_against_the_seed_schema(plan: Plan) -> None:
    VALIDATORS["plan"].validate(to_payload(plan))


@given(proposals)
def test_every_proposal_validates_against_the_seed_schema(proposal: Proposal) -> None:
    VALIDATORS["proposal"].validate(to_payload(proposal))


@given(verdicts)
def test_every_verdict_validates_against_the_seed_schema(verdict: Verdict) -> None:
    VALIDATORS["verdict"].validate(to_payload(verdict))


@given(plans)
def test_stored_plan_json_parses_back_to_the_same_plan(plan: Plan) -> None:
    assert Plan.model_validate(to_payload(plan)) == plan


def test_null_optional_fields_are_left_out_of_the_stored_json() -> None:
    verdict = Verdict(decision="APPROVE", revised_qty=None, violations=None, notes=None)
    assert to_payload(verdict) == {"decision": "APPROVE"}


def test_safe_fallbacks_are_valid_payloads() -> None:
    VALIDATORS["plan"].validate(to_payload(SAFE_PLAN))
    VALIDATORS["proposal"].validate(to_payload(SAFE_PROPOSAL))
    VALIDATORS["verdict"].validate(to_payload(SAFE_VERDICT))
    assert SAFE_PLAN.mode == "OBSERVE" and SAFE_PLAN.next_wakeup_secs == 3600
    assert SAFE_PROPOSAL.action == "HOLD" and SAFE_VERDICT.decision == "REJECT"


GOOD_PROPOSAL: dict[str, Any] = {
    "action": "BUY",
    "qty": "0.001",
    "policy_id": "breakout",
    "hypothesis": "close broke the 20-candle high",
    "confidence": 0.6,
}

BAD_PROPOSALS = {
    "wrong enum": {**GOOD_PROPOSAL, "action": "BUY_MORE"},
    "extra key": {**GOOD_PROPOSAL, "leverage": 10},
    "exponent qty": {**GOOD_PROPOSAL, "qty": "1e-3"},
    "negative qty": {**GOOD_PROPOSAL, "qty": "-1"},
    "numeric qty": {**GOOD_PROPOSAL, "qty": 0.001},
    "negative confidence": {**GOOD_PROPOSAL, "confidence": -0.1},
    "confidence above one": {**GOOD_PROPOSAL, "confidence": 1.5},
    "long hypothesis": {**GOOD_PROPOSAL, "hypothesis": "x" * 200},
    "missing field": {k: v for k, v in GOOD_PROPOSAL.items() if k != "confidence"},
}


@pytest.mark.parametrize("case", BAD_PROPOSALS)
def test_invalid_proposal_is_rejected_by_model_and_seed_schema(case: str) -> None:
    bad = BAD_PROPOSALS[case]
    with pytest.raises(ValidationError):
        Proposal.model_validate(bad, strict=True)
    assert not VALIDATORS["proposal"].is_valid(bad)


GOOD_PLAN: dict[str, Any] = {
    "mode": "TRADE",
    "explore_ratio": 0.2,
    "next_wakeup_secs": 300,
    "strategies": [{"policy_id": "ma_crossover", "params": {"fast": 5, "slow": 20}}],
}

BAD_PLANS = {
    "wakeup too short": {**GOOD_PLAN, "next_wakeup_secs": 5},
    "wakeup too long": {**GOOD_PLAN, "next_wakeup_secs": 7200},
    "explore above one": {**GOOD_PLAN, "explore_ratio": 2},
    "no strategies": {**GOOD_PLAN, "strategies": []},
    "four strategies": {**GOOD_PLAN, "strategies": GOOD_PLAN["strategies"] * 4},
    "extra key in strategy": {
        **GOOD_PLAN,
        "strategies": [{"policy_id": "hold", "params": {}, "why": "x"}],
    },
    "params not an object": {**GOOD_PLAN, "strategies": [{"policy_id": "hold", "params": []}]},
}


@pytest.mark.parametrize("case", BAD_PLANS)
def test_invalid_plan_is_rejected_by_model_and_seed_schema(case: str) -> None:
    bad = BAD_PLANS[case]
    with pytest.raises(ValidationError):
        Plan.model_validate(bad, strict=True)
    assert not VALIDATORS["plan"].is_valid(bad)


@pytest.mark.parametrize(
    "params",
    [
        {"policy_id": "ma_crossover", "params": {"fast": 20, "slow": 5}},
        {"policy_id": "rsi_mean_reversion", "params": {"period": 14, "oversold": 30}},
        {"policy_id": "martingale", "params": {}},
    ],
)
def test_strategy_params_are_typed_per_family(params: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Plan.model_validate({**GOOD_PLAN, "strategies": [params]}, strict=True)


def test_verdict_rejects_too_many_violations_and_long_notes() -> None:
    with pytest.raises(ValidationError):
        Verdict.model_validate(
            {"decision": "REJECT", "revised_qty": None, "violations": ["a"] * 5, "notes": None}
        )
    with pytest.raises(ValidationError):
        Verdict.model_validate(
            {"decision": "REJECT", "revised_qty": None, "violations": None, "notes": "n" * 121}
        )
    assert not VALIDATORS["verdict"].is_valid({"decision": "REJECT", "notes": "n" * 121})


def test_models_are_usable_as_sdk_strict_output_types() -> None:
    from agents import AgentOutputSchema

    for model in (Plan, Proposal, Verdict):
        schema = AgentOutputSchema(model, strict_json_schema=True).json_schema()
        assert schema["additionalProperties"] is False
        assert set(schema["required"]) == set(model.model_fields)
