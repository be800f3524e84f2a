"""A loopback LLM server for tests: OpenAI's Responses API and the Chat Completions API over real
HTTP on 127.0.0.1, answering with the offline policies.

It lets the `openai-compatible` provider run the whole graph through a real client and socket,
and it synthesizes the Responses API cassette for the `openai` provider (labelled as written,
not recorded, in tests/cassettes/README.md). Response bodies follow the field layout of real
OpenAI responses recorded in pydantic-ai's cassettes.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from autotrader.agents.offline import POLICIES
from autotrader.agents.wire import FinalText, ToolCall, output_items, transcript_of
from autotrader.schemas import Role

SEED = 7


def role_of(instructions: str) -> Role:
    for role in ("PLANNER", "TRADER", "JUDGE"):
        if f"You are the {role.title()}" in instructions:
            return role
    raise ValueError(f"cannot tell the role from instructions {instructions[:60]!r}")


def _decide(role: Role, items: list[dict[str, Any]], tools: list[str]) -> list[Any]:
    handoffs = [name for name in tools if name.startswith("transfer_to_")]
    transcript = transcript_of(items, handoffs)
    return POLICIES[role](transcript, SEED)


def tokens(body: dict[str, Any]) -> int:
    """A stand-in token count a real server would report: a quarter of the request's size."""
    return len(json.dumps(body)) // 4


def responses_answer(body: dict[str, Any], number: int) -> dict[str, Any]:
    tools = [tool["name"] for tool in body.get("tools", [])]
    items = (
        body["input"]
        if isinstance(body["input"], list)
        else [{"role": "user", "content": body["input"]}]
    )
    instructions = body.get("instructions") or ""
    actions = _decide(role_of(instructions), items, tools) if instructions else [FinalText("pong")]
    output = [item.model_dump(exclude_none=True) for item in output_items(actions, f"lb{number}")]
    return {
        "id": f"resp_loopback_{number:04d}",
        "object": "response",
        "created_at": 1761323546,
        "status": "completed",
        "background": False,
        "error": None,
        "incomplete_details": None,
        "instructions": body.get("instructions"),
        "max_output_tokens": None,
        "model": body["model"],
        "output": output,
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "reasoning": {"effort": None, "summary": None},
        "store": True,
        "temperature": 1.0,
        "text": body.get("text", {"format": {"type": "text"}}),
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools", []),
        "top_p": 1.0,
        "truncation": "disabled",
        "metadata": {},
        "user": None,
        "usage": {
            "input_tokens": tokens(body),
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": 7,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": 0,
        },
    }


def chat_answer(body: dict[str, Any], number: int) -> dict[str, Any]:
    messages = body["messages"]
    system = next((m["content"] for m in messages if m["role"] in ("system", "developer")), "")
    items: list[dict[str, Any]] = []
    for message in messages:
        if message["role"] == "user":
            items.append({"role": "user", "content": message["content"]})
        for call in message.get("tool_calls") or []:
            items.append(
                {"type": "function_call", "call_id": call["id"], "name": call["function"]["name"]}
            )
        if message["role"] == "tool":
            items.append(
                {
                    "type": "function_call_output",
                    "call_id": message["tool_call_id"],
                    "output": message["content"],
                }
            )
    tools = [tool["function"]["name"] for tool in body.get("tools", [])]
    actions = _decide(role_of(system), items, tools) if system else [FinalText("pong")]
    calls = [
        {
            "id": f"call_lb{number}_{i}",
            "type": "function",
            "function": {"name": a.name, "arguments": json.dumps(a.arguments)},
        }
        for i, a in enumerate(actions)
        if isinstance(a, ToolCall)
    ]
    text = next((a.text for a in actions if isinstance(a, FinalText)), None)
    return {
        "id": f"chatcmpl-loopback-{number}",
        "object": "chat.completion",
        "created": 1761323546,
        "model": body["model"],
        "choices": [
            {
                "index": 0,
                "finish_reason": "tool_calls" if calls else "stop",
                "message": {"role": "assistant", "content": text, "tool_calls": calls or None},
            }
        ],
        "usage": {"prompt_tokens": tokens(body), "completion_tokens": 7, "total_tokens": 0},
    }


class LoopbackLLM(ThreadingHTTPServer):
    """Answers as the offline policies would, until told to fail: from request number
    `fail_from` on it answers `fail_status` with an OpenAI-shaped error, or hangs `hang_secs`."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[tuple[str, dict[str, Any], dict[str, str]]] = []
        self._lock = threading.Lock()
        self.fail_from: int | None = None
        self.fail_status = 401
        self.fail_message = "Incorrect API key provided"
        self.hang_secs = 0.0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}/v1"


class _Handler(BaseHTTPRequestHandler):
    server: LoopbackLLM

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with self.server._lock:
            self.server.requests.append(
                (self.path, body, {k.lower(): v for k, v in self.headers.items()})
            )
            number = len(self.server.requests)
        server = self.server
        if server.fail_from is not None and number >= server.fail_from:
            if server.hang_secs:
                time.sleep(server.hang_secs)
            else:
                self._error(server.fail_status, server.fail_message)
                return
        if self.path.endswith("/responses"):
            answer = responses_answer(body, number)
        elif self.path.endswith("/chat/completions"):
            answer = chat_answer(body, number)
        else:
            self.send_error(404)
            return
        data = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-request-id", f"req_loopback_{number}")
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str) -> None:
        data = json.dumps(
            {"error": {"message": message, "type": "invalid_request_error", "code": None}}
        ).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def loopback_llm() -> Iterator[LoopbackLLM]:
    server = LoopbackLLM()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        time.sleep(0)
