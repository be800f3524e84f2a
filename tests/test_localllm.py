"""The local LLM layer without the model: schema fixes for llama.cpp's grammar converter, the
request/response rewriting, the ASGI middleware, the server's lifecycle (around a stand-in
child) and the run report. The real model runs in tests/test_localllm_e2e.py (`make test-llm`)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autotrader.config import load_settings
from autotrader.db import Database
from autotrader.db.models import Cycle, Decision, Order, Run
from autotrader.localllm import model as model_module
from autotrader.localllm.__main__ import LLM_ENV_DEFAULTS
from autotrader.localllm.__main__ import main as localllm_main
from autotrader.localllm.grammar import (
    MAX_STRING_CHARS,
    SchemaNotSupported,
    inline_refs,
    safe_pattern,
    safe_schema,
)
from autotrader.localllm.middleware import RewritingMiddleware, Scope
from autotrader.localllm.model import LocalLLMUnavailable, gguf_path
from autotrader.localllm.report import format_report, read_report, reason_kind
from autotrader.localllm.rewrite import (
    DEFAULT_MAX_TOKENS,
    Json,
    RequestRejected,
    one_call_schema,
    rewrite_messages,
    rewrite_request,
    rewrite_response,
)
from autotrader.localllm.server import LocalServer, free_port
from autotrader.schemas import QTY_PATTERN
from tests.conftest import REPO_ROOT
from tests.test_layers import internal_imports, layer_of

checked: list[tuple[Json, str]] = []


def accept(schema: Json, what: str) -> None:
    checked.append((schema, what))


def refuse(_schema: Json, what: str) -> None:
    raise RequestRejected(f"{what}: cannot compile")


def tool(name: str, properties: Json | None = None) -> Json:
    parameters = {"type": "object", "properties": properties or {}, "required": []}
    return {
        "type": "function",
        "function": {"name": name, "description": name, "parameters": parameters},
    }


def chat(**fields: Any) -> Json:
    return {"model": "smollm2", "messages": [{"role": "system", "content": "be brief"}], **fields}


# --- grammar: patterns and refs ---


def test_the_seed_quantity_pattern_becomes_bracket_classes() -> None:
    assert safe_pattern(QTY_PATTERN) == "^[0-9]+([.][0-9]+)?$"


@given(st.from_regex(re.compile(QTY_PATTERN, re.ASCII), fullmatch=True))
def test_the_safe_quantity_pattern_accepts_every_ascii_quantity(qty: str) -> None:
    safe = safe_pattern(QTY_PATTERN)
    assert safe is not None and re.fullmatch(safe, qty)


@given(st.text(max_size=12))
def test_the_safe_quantity_pattern_accepts_only_ascii_quantities(text: str) -> None:
    safe = safe_pattern(QTY_PATTERN)
    assert safe is not None
    assert bool(re.fullmatch(safe, text)) == bool(re.fullmatch(QTY_PATTERN, text, re.ASCII))


@pytest.mark.parametrize(
    ("pattern", "safe"),
    [
        (r"^\w+$", "^[a-zA-Z0-9_]+$"),
        (r"^[\d.]+$", "^[0-9.]+$"),
        (r"^[A-Z]{3}-\d{2}$", "^[A-Z]{3}-[0-9]{2}$"),
        (r"^(yes|no)$", "^(yes|no)$"),
    ],
)
def test_escapes_are_rewritten_inside_and_outside_classes(pattern: str, safe: str) -> None:
    assert safe_pattern(pattern) == safe


@pytest.mark.parametrize("pattern", [r"\d+", r"^\bword$", r"^[\D]$", r"^a\nb$"])
def test_a_pattern_that_cannot_be_expressed_is_dropped(pattern: str) -> None:
    assert safe_pattern(pattern) is None
    schema = {"type": "string", "pattern": pattern, "maxLength": 4}
    assert safe_schema(schema) == {"type": "string", "maxLength": 4}


def test_an_unbounded_string_gets_a_bound_in_the_grammar_and_a_bounded_one_keeps_its_own() -> None:
    schema = {
        "type": "object",
        "properties": {
            "free": {"type": "string"},
            "short": {"type": "string", "maxLength": 8},
            "choice": {"type": "string", "enum": ["a", "b"]},
        },
    }
    properties = safe_schema(schema)["properties"]
    assert properties["free"] == {"type": "string", "maxLength": MAX_STRING_CHARS}
    assert properties["short"] == {"type": "string", "maxLength": 8}
    assert properties["choice"] == {"type": "string", "enum": ["a", "b"]}


def test_local_refs_are_inlined_and_definitions_removed() -> None:
    schema = {
        "$defs": {"Q": {"type": "string", "pattern": QTY_PATTERN}},
        "type": "object",
        "properties": {"qty": {"$ref": "#/$defs/Q"}},
    }
    assert safe_schema(schema) == {
        "type": "object",
        "properties": {"qty": {"type": "string", "pattern": "^[0-9]+([.][0-9]+)?$"}},
    }


def test_a_recursive_ref_is_refused_not_followed_forever() -> None:
    schema = {"$defs": {"N": {"properties": {"next": {"$ref": "#/$defs/N"}}}}, "$ref": "#/$defs/N"}
    with pytest.raises(SchemaNotSupported, match="too deep"):
        inline_refs(schema)


# --- request rewriting ---


def test_the_sdk_turn_after_a_tool_call_becomes_string_content_with_the_tool_named() -> None:
    messages: list[Json] = [
        {"role": "user", "content": "go"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "get_ohlcv"}}],
        },
        {"role": "tool", "tool_call_id": "c1", "content": [{"type": "text", "text": "[1,2]"}]},
    ]
    assert rewrite_messages(messages) == [
        {"role": "user", "content": "go"},
        {"role": "tool", "tool_call_id": "c1", "content": "Result of get_ohlcv: [1,2]"},
    ]


def test_a_named_choice_becomes_a_grammar_for_a_call_of_that_tool() -> None:
    named = {"type": "function", "function": {"name": "b"}}
    request, post = rewrite_request(chat(tools=[tool("a"), tool("b")], tool_choice=named), accept)
    assert post == "tool_call" and "tools" not in request
    assert request["response_format"]["schema"] == one_call_schema([tool("b")])
    assert request["messages"][0]["content"] == "be brief\n\nCall one of these tools:\n- b: b"


def test_a_streamed_forced_call_of_one_tool_uses_the_servers_named_choice() -> None:
    body = chat(tools=[tool("a")], tool_choice="required", stream=True)
    request, post = rewrite_request(body, accept)
    assert post == "none"
    assert request["tool_choice"] == {"type": "function", "function": {"name": "a"}}


def test_required_with_several_tools_becomes_a_grammar_for_one_call() -> None:
    tools = [tool("a"), tool("b", {"n": {"type": "integer"}})]
    body = chat(tools=tools, tool_choice="required", parallel_tool_calls=True)
    request, post = rewrite_request(body, accept)
    assert post == "tool_call"
    assert "tools" not in request and "tool_choice" not in request
    assert "parallel_tool_calls" not in request
    assert request["response_format"] == {"type": "json_object", "schema": one_call_schema(tools)}


def called(*names: str) -> list[Json]:
    calls = [
        {"id": n, "type": "function", "function": {"name": n, "arguments": "{}"}} for n in names
    ]
    return [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": None, "tool_calls": calls},
    ]


def test_a_forced_turn_offers_only_the_tools_not_called_yet() -> None:
    body = chat(
        messages=called("a"), tools=[tool("a"), tool("b"), tool("c")], tool_choice="required"
    )
    request, _ = rewrite_request(body, accept)
    offered = request["response_format"]["schema"]["anyOf"]
    assert [branch["properties"]["name"]["const"] for branch in offered] == ["b", "c"]
    assert request["messages"][0]["content"].endswith("- a: a\n- b: b\n- c: c")  # unchanged


def test_the_last_tool_not_called_yet_is_the_only_one_offered() -> None:
    tools = [tool("a"), tool("b"), tool("c")]
    request, _ = rewrite_request(
        chat(messages=called("a", "b"), tools=tools, tool_choice="required"), accept
    )
    assert request["response_format"]["schema"] == one_call_schema([tool("c")])


def test_when_every_tool_was_called_all_are_offered_again() -> None:
    body = chat(messages=called("a", "b"), tools=[tool("a"), tool("b")], tool_choice="required")
    request, post = rewrite_request(body, accept)
    assert post == "tool_call" and len(request["response_format"]["schema"]["anyOf"]) == 2


def test_a_json_schema_response_format_becomes_the_servers_own_form_with_safe_patterns() -> None:
    schema = {"type": "object", "properties": {"qty": {"type": "string", "pattern": QTY_PATTERN}}}
    form = {"type": "json_schema", "json_schema": {"name": "final_output", "schema": schema}}
    request, _ = rewrite_request(chat(response_format=form), accept)
    assert request["response_format"] == {
        "type": "json_object",
        "schema": {
            "type": "object",
            "properties": {"qty": {"type": "string", "pattern": "^[0-9]+([.][0-9]+)?$"}},
        },
    }


def test_auto_tool_choice_without_a_response_schema_drops_the_tools() -> None:
    request, post = rewrite_request(chat(tools=[tool("a")], tool_choice="auto"), accept)
    assert post == "none" and "tools" not in request and "tool_choice" not in request


def verdict_format() -> Json:
    schema = {"type": "object", "properties": {"decision": {"enum": ["APPROVE", "REJECT"]}}}
    return {"type": "json_schema", "json_schema": {"name": "final_output", "schema": schema}}


def test_auto_tool_choice_with_a_response_schema_is_one_call_or_the_answer() -> None:
    body = chat(tools=[tool("a")], tool_choice="auto", response_format=verdict_format())
    request, post = rewrite_request(body, accept)
    answer = verdict_format()["json_schema"]["schema"]
    assert post == "tool_call"
    assert request["response_format"]["schema"] == {
        "anyOf": [*one_call_schema([tool("a")])["anyOf"], answer]
    }
    assert "You may first call one of these tools:\n- a: a" in request["messages"][0]["content"]


def test_auto_tool_choice_after_every_tool_was_called_is_the_answer_alone() -> None:
    body = chat(
        messages=called("a"),
        tools=[tool("a")],
        tool_choice="auto",
        response_format=verdict_format(),
    )
    request, post = rewrite_request(body, accept)
    assert post == "none" and "tools" not in request
    assert request["response_format"] == {
        "type": "json_object",
        "schema": verdict_format()["json_schema"]["schema"],
    }


def test_an_answer_in_place_of_a_call_stays_the_answer() -> None:
    assert rewrite_response(completion('{"decision": "REJECT"}'), "tool_call") == completion(
        '{"decision": "REJECT"}'
    )


def test_tool_parameters_are_made_safe_and_test_compiled() -> None:
    checked.clear()
    qty = {"qty": {"type": "string", "pattern": QTY_PATTERN}}
    request, _ = rewrite_request(chat(tools=[tool("check", qty)], tool_choice="required"), accept)
    [call] = request["response_format"]["schema"]["anyOf"]
    assert call["properties"]["arguments"]["properties"]["qty"]["pattern"] == "^[0-9]+([.][0-9]+)?$"
    assert [what for _, what in checked] == ["tool check", "tools"]
    assert checked[-1][0] == request["response_format"]["schema"]


def test_a_schema_that_does_not_compile_is_rejected_before_it_reaches_the_server() -> None:
    with pytest.raises(RequestRejected, match="tool a: cannot compile"):
        rewrite_request(chat(tools=[tool("a")], tool_choice="required"), refuse)


def test_a_named_choice_of_an_unknown_tool_is_rejected() -> None:
    choice = {"type": "function", "function": {"name": "zzz"}}
    with pytest.raises(RequestRejected, match="unknown tool 'zzz'"):
        rewrite_request(chat(tools=[tool("a")], tool_choice=choice), accept)


def test_temperature_zero_and_bounded_tokens_unless_the_client_says_otherwise() -> None:
    request, _ = rewrite_request(chat(), accept)
    assert (request["temperature"], request["max_tokens"]) == (0.0, DEFAULT_MAX_TOKENS)
    request, _ = rewrite_request(chat(temperature=0.7, max_tokens=9), accept)
    assert (request["temperature"], request["max_tokens"]) == (0.7, 9)


# --- response rewriting ---


def completion(content: str) -> Json:
    message = {"role": "assistant", "content": content}
    return {"choices": [{"index": 0, "message": message, "finish_reason": "stop"}]}


def test_a_grammar_built_call_comes_back_as_tool_calls() -> None:
    body = rewrite_response(completion('{"name": "b", "arguments": {"n": 3}}'), "tool_call")
    choice = body["choices"][0]
    call = choice["message"]["tool_calls"][0]
    assert choice["finish_reason"] == "tool_calls" and choice["message"]["content"] is None
    assert call["type"] == "function" and call["id"].startswith("call_")
    assert call["function"] == {"name": "b", "arguments": '{"n": 3}'}


def test_a_call_cut_short_stays_text_for_the_client_to_reject() -> None:
    body = rewrite_response(completion('{"name": "b", "argu'), "tool_call")
    assert body == completion('{"name": "b", "argu')


# --- the middleware, around a stand-in server app ---


class EchoApp:
    """Answers every request with a completion whose content is the body's "echo" field."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        chunks, more = [], True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        self.bodies.append(b"".join(chunks))
        try:
            answer = json.loads(self.bodies[-1]).get("echo", "ok")
        except ValueError:
            answer = "not json"
        data = json.dumps(completion(answer)).encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": data})

    def requests(self) -> list[Json]:
        return [json.loads(body) for body in self.bodies]


async def call(app: Any, body: bytes, path: str = "/v1/chat/completions") -> tuple[int, Json]:
    scope = {"type": "http", "method": "POST", "path": path, "headers": []}
    chunks = [
        {"type": "http.request", "body": body[:5], "more_body": True},
        {"type": "http.request", "body": body[5:], "more_body": False},
    ]
    sent: list[Any] = []

    async def receive() -> Any:
        return chunks.pop(0)

    async def send(message: Any) -> None:
        sent.append(message)

    await app(scope, receive, send)
    data = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    headers = dict(sent[0].get("headers", []))
    if b"content-length" in headers:
        assert int(headers[b"content-length"]) == len(data)
    return sent[0]["status"], json.loads(data)


async def test_the_middleware_rewrites_the_request_the_server_sees() -> None:
    inner = EchoApp()
    body = json.dumps(chat(messages=[{"role": "assistant", "content": None}]))
    status, _ = await call(RewritingMiddleware(inner, accept), body.encode())
    assert status == 200
    assert inner.requests()[0]["messages"] == [{"role": "assistant", "content": ""}]


async def test_the_middleware_turns_a_grammar_built_call_into_tool_calls() -> None:
    echo = json.dumps({"name": "a", "arguments": {}})
    body = chat(tools=[tool("a"), tool("b")], tool_choice="required", echo=echo)
    _, answer = await call(RewritingMiddleware(EchoApp(), accept), json.dumps(body).encode())
    assert answer["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "a"


async def test_the_middleware_answers_400_instead_of_passing_on_a_crashing_grammar() -> None:
    inner = EchoApp()
    body = json.dumps(chat(tools=[tool("a")], tool_choice="required")).encode()
    status, answer = await call(RewritingMiddleware(inner, refuse), body)
    assert status == 400 and inner.bodies == []
    assert answer["error"]["type"] == "invalid_request_error"
    assert "cannot compile" in answer["error"]["message"]


async def test_the_middleware_leaves_other_paths_alone() -> None:
    inner = EchoApp()
    body = b'{"echo": "x", "tool_choice": "required"}'
    status, _ = await call(RewritingMiddleware(inner, refuse), body, "/v1/completions")
    assert status == 200 and inner.bodies == [body]


async def test_the_middleware_passes_a_body_that_is_not_json_to_the_server() -> None:
    inner = EchoApp()
    status, answer = await call(RewritingMiddleware(inner, refuse), b"not json at all")
    assert status == 200 and inner.bodies == [b"not json at all"]
    assert answer["choices"][0]["message"]["content"] == "not json"


# --- the model file and the server's lifecycle ---


def test_a_missing_extra_is_one_line_naming_the_make_target(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(model_module, "find_spec", lambda _name: None)
    with pytest.raises(LocalLLMUnavailable, match="make llm-install"):
        gguf_path()


STAND_IN = textwrap.dedent(
    """
    import json, sys
    from http.server import BaseHTTPRequestHandler, HTTPServer
    class Models(BaseHTTPRequestHandler):
        def do_GET(self):
            data = json.dumps({"data": [{"id": "smollm2"}]}).encode()
            self.send_response(200); self.end_headers(); self.wfile.write(data)
        def log_message(self, *args): pass
    HTTPServer(("127.0.0.1", int(sys.argv[1])), Models).serve_forever()
    """
)


@pytest.fixture
def stand_in(tmp_path: Path) -> Iterator[LocalServer]:
    port, log = free_port(), tmp_path / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", STAND_IN, str(port)], stdout=out, stderr=out
        )
    server = LocalServer(process, port, "smollm2", log)
    yield server
    server.stop()


def test_the_server_is_ready_once_it_lists_the_model_and_stops_on_request(
    stand_in: LocalServer,
) -> None:
    stand_in.wait_ready(timeout=30)
    assert stand_in.models() == ["smollm2"]
    stand_in.stop()
    assert stand_in.process.returncode is not None
    with pytest.raises(OSError):
        stand_in.models()


def test_a_server_that_dies_while_starting_is_one_line_with_its_last_words(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", "import sys; print('model file is corrupt'); sys.exit(3)"],
            stdout=out,
        )
    server = LocalServer(process, free_port(), "smollm2", log)
    with pytest.raises(
        LocalLLMUnavailable, match=r"exited while starting \(code 3\): model file is corrupt"
    ):
        server.wait_ready(timeout=30)


def test_the_environment_points_the_compatible_provider_at_the_server(
    stand_in: LocalServer,
) -> None:
    env = stand_in.model_env()
    assert env["MODEL_PROVIDER"] == "openai-compatible"
    assert env["OPENAI_BASE_URL"] == f"http://127.0.0.1:{stand_in.port}/v1"
    assert {env[f"OPENAI_MODEL_{role}"] for role in ("PLANNER", "TRADER", "JUDGE")} == {"smollm2"}


def test_the_replay_settings_are_ones_autotrader_accepts(
    stand_in: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {**LLM_ENV_DEFAULTS, **stand_in.model_env()}.items():
        monkeypatch.setenv(name, value)
    settings = load_settings(None)
    assert (settings.provider, settings.timeframe) == ("openai-compatible", "1h")
    assert (settings.model_timeout_secs, settings.cycle_deadline_secs) == (600, 3600)


# --- the run report and the command line ---


def test_a_reason_kind_drops_the_details() -> None:
    reason = (
        "transfer_to_trader payload is not a valid Plan: strategies.0: Field required (3 attempts)"
    )
    assert reason_kind(reason) == "transfer_to_trader payload is not a valid Plan"


def test_the_report_counts_model_and_fallback_decisions_per_agent(db: Database) -> None:
    start = datetime(2025, 9, 7, tzinfo=UTC)
    run = Run(
        run_id="r1",
        fingerprint="f",
        started_at=start,
        finished_at=start + timedelta(seconds=90),
        status="DONE",
        mode="paper",
        feed="replay",
        symbol="BTC/USDT",
        timeframe="5m",
        provider="openai-compatible",
        models_json="{}",
        seed=7,
        scope="r1",
    )
    reasons: list[dict[str, str | None]] = [
        {
            "PLANNER": "transfer_to_trader payload is not a valid Plan: x",
            "TRADER": None,
            "JUDGE": None,
        },
        {"PLANNER": None, "TRADER": None, "JUDGE": "guardrail: over the cap"},
    ]
    with db.session() as session:
        session.add(run)
    rows: list[Any] = []
    for number, reason in enumerate(reasons):
        trace = f"trace_{number}"
        rows.append(
            Cycle(
                run_id="r1",
                trace_id=trace,
                cycle_ts=start,
                wall_ts=start,
                status="OK",
                wakeup_secs=300,
                duration_ms=30_000.0 * (number + 1),
                model_calls=4,
                executed=number == 1,
            )
        )
        rows += [
            Decision(
                ts_utc=start, agent=agent, trace_id=trace, payload_json="{}", fallback_reason=why
            )
            for agent, why in reason.items()
        ]
    rows.append(
        Order(
            created_ts=start,
            updated_ts=start,
            symbol="BTC/USDT",
            side="BUY",
            qty=Decimal(9),
            client_order_id="c1",
            idempotency_key="k1",
            trace_id="trace_0",
            status="REJECTED",
        )
    )
    with db.session() as session:
        session.add_all(rows)
    report = read_report(db.path)
    assert (report.run_id, report.cycles, report.executed, report.wall_seconds) == ("r1", 2, 1, 90)
    assert (report.seconds_per_cycle, report.calls_per_cycle) == (45, 4)
    assert report.orders == (("REJECTED", 1),)
    shares = {
        share.agent: (share.by_model, share.fallbacks, share.reasons) for share in report.agents
    }
    assert shares == {
        "PLANNER": (1, 1, (("transfer_to_trader payload is not a valid Plan", 1),)),
        "TRADER": (2, 0, ()),
        "JUDGE": (2, 0, ()),  # a guardrail's override is not a fallback
    }
    assert "PLANNER  decided by the model 1/2 (50%), by a fallback 1 (50%)" in format_report(report)


def test_report_of_a_missing_database_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert localllm_main(["report", "--db", str(tmp_path / "none.db")]) == 2
    assert capsys.readouterr().err.strip().count("\n") == 0


def test_replay_refuses_non_positive_hours_before_starting_anything(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert localllm_main(["replay", "--hours", "0"]) == 2
    assert "--hours 0.0 must be positive" in capsys.readouterr().err


def test_the_local_llm_package_imports_only_the_kernel() -> None:
    folder = REPO_ROOT / "autotrader" / "localllm"
    layers = {layer_of(name) for path in folder.glob("*.py") for _, name in internal_imports(path)}
    assert layers <= {"kernel", "localllm"}
