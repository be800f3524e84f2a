"""What the Agents SDK sends, rewritten into what llama-cpp-python 0.3.36's server accepts and a
135M chat model can follow; and a grammar-built tool call rewritten back into `tool_calls`.

The stock server answers HTTP 500 to an assistant turn with `content: null` (the SDK's turn
after a tool call), to `response_format` of type `json_schema` and to `tool_choice="required"`
(or ignores it), and segfaults on a schema whose pattern has a backslash. So:
- assistant and tool content becomes a string; a tool-call turn is left out of the prompt (the
  GGUF's chat template cannot show it) and its result says which tool it came from;
- a forced tool choice becomes a grammar for one call, `{"name": ..., "arguments": ...}`
  (writing the name first keeps a small model on topic; the server's own named-tool grammar,
  used only for streaming, starts at the arguments and gets them wrong), turned back into
  `tool_calls` afterwards; "required" offers only the tools not yet called in the
  conversation while any are left (a small model otherwise repeats one call until the turn
  budget is spent); "auto" with a response schema becomes a grammar for one call or the
  answer, and without one drops the tools (the template cannot call tools unforced), as
  "none" does; turns that may call tools name them in the system prompt;
- `json_schema` becomes the server's own `{"type": "json_object", "schema": ...}`;
- every schema is made safe for the grammar converter and test-compiled by `check`, which
  raises `RequestRejected` (HTTP 400) rather than let the server crash;
- temperature 0 and a bounded `max_tokens` when the client sends none: reproducible runs, and
  no answer rambling to the end of the context.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any, Literal

from autotrader.errors import AutotraderError
from autotrader.localllm.grammar import SchemaNotSupported, safe_schema

Json = dict[str, Any]
# Test-compiles a grammar for a schema; raises RequestRejected naming `what` if it cannot.
GrammarCheck = Callable[[Json, str], None]
# How the response must be rewritten: not at all, or a grammar-built call into `tool_calls`.
Post = Literal["none", "tool_call"]

DEFAULT_TEMPERATURE = 0.0
DEFAULT_MAX_TOKENS = 512
EMPTY_PARAMETERS: Json = {"type": "object", "properties": {}}


class RequestRejected(AutotraderError):
    """A request this server cannot serve; answered as HTTP 400 invalid_request_error."""


def _text(content: Any) -> str:
    """Message content as one string: None is empty, a list of parts is joined."""
    if content is None:
        return ""
    if isinstance(content, list):
        return "".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return str(content)


def called_tools(messages: list[Json]) -> set[str]:
    """The names of the tools the conversation has called so far."""
    return {
        str((call.get("function") or {}).get("name"))
        for message in messages
        if message.get("role") == "assistant"
        for call in message.get("tool_calls") or []
    }


def rewrite_messages(messages: list[Json]) -> list[Json]:
    """Messages the chat template renders: string content, no tool-call turns, named results."""
    called: dict[str, str] = {}
    out: list[Json] = []
    for original in messages:
        message = dict(original)
        role = message.get("role")
        if role == "developer":
            message["role"] = role = "system"
        if role in ("system", "assistant", "tool"):
            message["content"] = _text(message.get("content"))
        if role == "assistant" and message.get("tool_calls"):
            for call in message.pop("tool_calls"):
                called[str(call.get("id"))] = str((call.get("function") or {}).get("name"))
            if not message["content"]:
                # An empty assistant turn makes the model answer nothing; a call shown as text
                # makes it parrot the call. The result below names the tool instead.
                continue
        if role == "tool":
            name = called.get(str(message.get("tool_call_id")), "the tool")
            message["content"] = f"Result of {name}: {message['content']}"
        out.append(message)
    return out


def _describe_tools(messages: list[Json], tools: list[Json], heading: str) -> None:
    """The chat template ignores `tools`: name them in the system prompt of a turn that may
    call them (the grammar spells out their arguments, so the prompt need not). All of them,
    also those the grammar leaves out this turn: an unchanged system prompt keeps the server's
    cached evaluation of the prompt that follows it."""
    lines = ["", heading]
    lines += [f"- {t['function']['name']}: {t['function'].get('description', '')}" for t in tools]
    text = "\n".join(lines)
    if messages and messages[0].get("role") == "system":
        messages[0]["content"] = f"{messages[0]['content']}\n{text}"
    else:
        messages.insert(0, {"role": "system", "content": text.strip()})


def _safe(schema: Json, what: str, check: GrammarCheck) -> Json:
    try:
        safe = safe_schema(schema)
    except SchemaNotSupported as error:
        raise RequestRejected(f"{what}: {error}") from None
    check(safe, what)
    return safe


def one_call_schema(tools: list[Json]) -> Json:
    """One call of any of the tools, as JSON: {"name": <a tool>, "arguments": <its parameters>}."""
    return {
        "anyOf": [
            {
                "type": "object",
                "properties": {
                    "name": {"const": tool["function"]["name"]},
                    "arguments": tool["function"]["parameters"],
                },
                "required": ["name", "arguments"],
            }
            for tool in tools
        ]
    }


def _safe_tool(tool: Json, check: GrammarCheck) -> Json:
    function = dict(tool.get("function") or {})
    parameters = function.get("parameters") or EMPTY_PARAMETERS
    function["parameters"] = _safe(parameters, f"tool {function.get('name')}", check)
    return {**tool, "function": function}


def _rewrite_tools(request: Json, called: set[str], check: GrammarCheck) -> Post:
    """Tool choices as the server can serve them; see the module docstring."""
    given: list[Json] = list(request.pop("tools", None) or [])
    choice = request.pop("tool_choice", None)
    request.pop("parallel_tool_calls", None)  # one call per turn; the SDK loops for the rest
    if not given or choice == "none":
        return "none"
    tools = [_safe_tool(tool, check) for tool in given]
    # A small model repeats its last call until the turn budget runs out; a called tool's
    # result is already in the prompt, so offer only the others while any are left.
    fresh = [tool for tool in tools if tool["function"]["name"] not in called]
    if choice in (None, "auto"):
        answer = (request.get("response_format") or {}).get("schema")
        if not fresh or not isinstance(answer, dict):
            return "none"  # the template cannot call tools unforced: the answer is text
        _describe_tools(request["messages"], tools, "You may first call one of these tools:")
        union = {"anyOf": [*one_call_schema(fresh)["anyOf"], answer]}
        check(union, "tools or answer")
        request["response_format"] = {"type": "json_object", "schema": union}
        return "tool_call"
    listed = tools
    if isinstance(choice, dict):
        chosen = (choice.get("function") or {}).get("name")
        tools = listed = [tool for tool in tools if tool["function"]["name"] == chosen]
        if not tools:
            raise RequestRejected(f"tool_choice names the unknown tool {chosen!r}")
    elif choice == "required":
        tools = fresh or tools
    else:
        raise RequestRejected(f"tool_choice {choice!r} is not supported")
    _describe_tools(request["messages"], listed, "Call one of these tools:")
    if request.get("stream"):  # the server's own named-tool grammar streams; ours does not
        if len(tools) > 1:
            raise RequestRejected("tool_choice 'required' with several tools cannot be streamed")
        name = tools[0]["function"]["name"]
        request["tools"] = tools
        request["tool_choice"] = {"type": "function", "function": {"name": name}}
        return "none"
    schema = one_call_schema(tools)
    check(schema, "tools")
    request["response_format"] = {"type": "json_object", "schema": schema}
    return "tool_call"


def _rewrite_response_format(request: Json, check: GrammarCheck) -> None:
    form = request.get("response_format")
    if not isinstance(form, dict):
        return
    if form.get("type") == "json_schema":
        schema = (form.get("json_schema") or {}).get("schema") or {}
        request["response_format"] = {
            "type": "json_object",
            "schema": _safe(schema, "response_format", check),
        }
    elif form.get("type") == "json_object" and isinstance(form.get("schema"), dict):
        form["schema"] = _safe(form["schema"], "response_format", check)


def rewrite_request(request: Json, check: GrammarCheck) -> tuple[Json, Post]:
    """The request as the server can serve it, and how its response must be rewritten."""
    rewritten = dict(request)
    messages = list(request.get("messages") or [])
    rewritten["messages"] = rewrite_messages(messages)
    _rewrite_response_format(rewritten, check)
    post = _rewrite_tools(rewritten, called_tools(messages), check)
    rewritten.setdefault("temperature", DEFAULT_TEMPERATURE)
    if rewritten.get("max_tokens") is None and rewritten.get("max_completion_tokens") is None:
        rewritten["max_tokens"] = DEFAULT_MAX_TOKENS
    return rewritten, post


def rewrite_response(body: Json, post: Post) -> Json:
    """A grammar-built call (JSON text) as the `tool_calls` the client asked for; any other
    answer (an answer of the final schema, or JSON cut short) is left as it is."""
    if post != "tool_call":
        return body
    for choice in body.get("choices", []):
        message = choice.get("message") or {}
        try:
            call = json.loads(message.get("content") or "")
            name, arguments = str(call["name"]), call["arguments"]
        except (ValueError, KeyError, TypeError):
            continue  # the answer itself, or cut short by max_tokens (the client rejects it)
        message["content"] = None
        message["tool_calls"] = [
            {
                "id": f"call_{uuid.uuid4().hex[:24]}",
                "type": "function",
                "function": {"name": name, "arguments": json.dumps(arguments)},
            }
        ]
        choice["finish_reason"] = "tool_calls"
    return body
