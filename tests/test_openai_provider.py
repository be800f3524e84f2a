"""The OpenAI providers: our client on real recorded Responses API traffic, the whole graph on
the Responses API (cassette), and on a Chat Completions server (loopback, real HTTP).

`make record` re-records graph_cycle.yaml against the real API when OPENAI_API_KEY is set
(it passes the key as AUTOTRADER_RECORD_KEY; tests never see OPENAI_API_KEY).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
from agents import (
    Agent,
    AgentOutputSchema,
    OpenAIChatCompletionsModel,
    OpenAIResponsesModel,
    Runner,
    function_tool,
    set_trace_processors,
)
from openai import AsyncOpenAI
from pydantic import BaseModel

from autotrader.agents.guarded import GuardedModel
from autotrader.db import Database
from autotrader.research.summary import SCHEMA_OF
from autotrader.schemas import seed_validator
from tests.helpers import CASSETTES, SECRET_HEADERS, decisions, harness, openai_vcr
from tests.loopback_llm import loopback_llm

RECORD_KEY = os.environ.get("AUTOTRADER_RECORD_KEY")


@pytest.fixture(autouse=True)
def no_trace_processors() -> Iterator[None]:
    set_trace_processors([])
    yield
    set_trace_processors([])


def _client() -> AsyncOpenAI:
    return AsyncOpenAI(api_key="test-api-key", max_retries=0)


def _assert_three_valid_decisions(db: Database, trace_id: str) -> None:
    rows = decisions(db)
    assert [r.agent for r in rows] == ["PLANNER", "TRADER", "JUDGE"]
    assert {r.trace_id for r in rows} == {trace_id}
    for row in rows:
        seed_validator(SCHEMA_OF[row.agent]).validate(json.loads(row.payload_json))


# --- our client on real recorded traffic (pydantic-ai's cassettes, see tests/cassettes) ---


async def test_client_reads_a_recorded_tool_call_and_final_message() -> None:
    calls: list[str] = []

    @function_tool
    def get_capital(country: str) -> str:
        """Get the capital of a country."""
        calls.append(country)
        return "Potato City"

    agent = Agent(
        name="capital", tools=[get_capital], model=OpenAIResponsesModel("gpt-4o", _client())
    )
    cassette_name = "recorded/test_openai_responses_model_simple_response_with_tool_call.yaml"
    with openai_vcr.use_cassette(cassette_name) as cassette:
        result = await Runner.run(agent, "What is the capital of PotatoLand?")
    assert cassette.all_played
    assert calls == ["PotatoLand"]
    recorded = json.loads(cassette.responses[-1]["body"]["string"])
    assert result.final_output == recorded["output"][0]["content"][0]["text"]


class CityLocation(BaseModel):
    city: str
    country: str


async def test_client_reads_a_recorded_strict_structured_output() -> None:
    @function_tool
    def get_user_country() -> str:
        """Get the user's country."""
        return "Mexico"

    agent = Agent(
        name="geo",
        tools=[get_user_country],
        output_type=AgentOutputSchema(CityLocation, strict_json_schema=True),
        model=OpenAIResponsesModel("gpt-4o", _client()),
    )
    with openai_vcr.use_cassette("recorded/test_native_output.yaml") as cassette:
        result = await Runner.run(agent, "What is the largest city in the user country?")
    assert cassette.all_played
    assert result.final_output == CityLocation(city="Mexico City", country="Mexico")


async def test_client_reads_a_recorded_plain_answer() -> None:
    agent = Agent(name="plain", model=OpenAIResponsesModel("gpt-4o", _client()))
    cassette_name = "recorded/test_openai_responses_model_simple_response.yaml"
    with openai_vcr.use_cassette(cassette_name) as cassette:
        result = await Runner.run(agent, "What is the capital of France?")
    assert cassette.all_played
    assert "Paris" in result.final_output


# --- the whole graph on the Responses API (synthesized cassette; `make record` makes it real) ---


@pytest.fixture
def vcr_cassette_dir() -> str:
    return str(CASSETTES / "openai")


@pytest.fixture
def default_cassette_name() -> str:
    return "graph_cycle"


@pytest.fixture
def vcr_config() -> dict[str, Any]:
    return {
        "filter_headers": SECRET_HEADERS,
        "match_on": ["method", "scheme", "host", "port", "path"],
        "decode_compressed_response": True,
    }


@pytest.mark.vcr
async def test_openai_provider_runs_a_whole_cycle_on_the_responses_api(
    db: Database, vcr: Any
) -> None:
    rig = harness(
        db, index=915, model_provider="openai", openai_api_key=RECORD_KEY or "test-api-key"
    )
    assert rig.settings.provider == "openai"
    assert isinstance(rig.graph.planner.model, GuardedModel)
    assert isinstance(rig.graph.planner.model.inner, OpenAIResponsesModel)
    outcome, trace_id = await rig.cycle()
    _assert_three_valid_decisions(db, trace_id)
    assert vcr.play_count == len(vcr.requests) <= 5
    if RECORD_KEY is None:  # the synthesized cassette: a buy, approved, no fallbacks
        assert (outcome.proposal.action, outcome.verdict.decision) == ("BUY", "APPROVE")
        assert outcome.fallbacks == {} and outcome.error is None
    assert [r.model for r in decisions(db)] == ["gpt-5-mini", "gpt-5", "gpt-5-mini"]


# --- the whole graph on a Chat Completions server (loopback) ---


async def test_openai_compatible_provider_runs_a_whole_cycle_over_http(db: Database) -> None:
    with loopback_llm() as server:
        rig = harness(
            db,
            index=914,
            model_provider="openai-compatible",
            openai_base_url=server.base_url,
            openai_api_key="local-dummy-key",
            openai_model_planner="llama3.1",
            openai_model_trader="llama3.1",
            openai_model_judge="llama3.1",
        )
        guarded = rig.graph.trader.model
        assert isinstance(guarded, GuardedModel)
        assert isinstance(guarded.inner, OpenAIChatCompletionsModel)
        outcome, trace_id = await rig.cycle()
    _assert_three_valid_decisions(db, trace_id)
    paths = [path for path, _, _ in server.requests]
    assert paths == ["/v1/chat/completions"] * 5
    assert all(h.get("authorization") == "Bearer local-dummy-key" for _, _, h in server.requests)
    assert (outcome.proposal.action, outcome.verdict.decision) == ("BUY", "APPROVE")
    first = server.requests[0][1]
    assert first["model"] == "llama3.1" and first["tool_choice"] == "required"


async def test_the_compatible_provider_decides_exactly_as_the_offline_one(
    db: Database, tmp_path: Any
) -> None:
    with loopback_llm() as server:
        remote = harness(
            db,
            index=914,
            model_provider="openai-compatible",
            openai_base_url=server.base_url,
            openai_api_key="local-dummy-key",
        )
        await remote.cycle()
    offline_db = Database.open(tmp_path / "offline.db")
    await harness(offline_db, index=914).cycle()
    assert [r.payload_json for r in decisions(db)] == [
        r.payload_json for r in decisions(offline_db)
    ]
