"""The wire shapes policies speak: tool calls and final text in, Responses input items out.

`transcript_of` reduces an agent's input items to its brief (the first JSON user message) and
the latest output of each tool; `output_items` turns actions into Responses API output items.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from openai.types.responses import (
    ResponseFunctionToolCall,
    ResponseOutputItem,
    ResponseOutputMessage,
    ResponseOutputText,
)


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class FinalText:
    text: str


Action = ToolCall | FinalText


@dataclass(frozen=True)
class Transcript:
    """An agent's input reduced to what a policy reads: the brief and the latest tool outputs
    (raw text; `result` parses one on demand, so unread outputs cost nothing)."""

    brief: dict[str, Any]
    outputs: dict[str, str]
    handoffs: tuple[str, ...]

    def called(self, tool: str) -> bool:
        return tool in self.outputs

    def result(self, tool: str) -> Any:
        """The tool's latest output as JSON; None if it was not called or answered an error."""
        return _json_or_none(self.outputs[tool]) if tool in self.outputs else None


def _as_dict(item: Any) -> dict[str, Any]:
    if isinstance(item, dict):
        return item
    dumped: dict[str, Any] = item.model_dump()
    return dumped


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content if isinstance(part, dict))


def _json_or_none(text: str) -> Any:
    try:
        return json.loads(text)
    except (json.JSONDecodeError, TypeError):
        return None


def transcript_of(items: str | list[Any], handoffs: list[str]) -> Transcript:
    """Parse Responses-format input items (as the SDK passes them) into a Transcript."""
    if isinstance(items, str):
        items = [{"role": "user", "content": items}]
    brief: dict[str, Any] = {}
    names: dict[str, str] = {}
    outputs: dict[str, str] = {}
    for raw in items:
        item = _as_dict(raw)
        if item.get("role") == "user" and not brief:
            parsed = _json_or_none(_text_of(item.get("content", "")))
            brief = parsed if isinstance(parsed, dict) else {}
        elif item.get("type") == "function_call":
            names[item["call_id"]] = item["name"]
        elif item.get("type") == "function_call_output" and item["call_id"] in names:
            outputs[names[item["call_id"]]] = _text_of(item.get("output", ""))
    return Transcript(brief, outputs, tuple(handoffs))


def output_items(actions: list[Action], prefix: str) -> list[ResponseOutputItem]:
    """Actions in the Responses API's output shapes; call ids unique within the run."""
    items: list[ResponseOutputItem] = []
    for index, action in enumerate(actions):
        if isinstance(action, ToolCall):
            call_id = f"{prefix}_{index}"
            items.append(
                ResponseFunctionToolCall(
                    type="function_call",
                    id=f"fc_{call_id}",
                    call_id=call_id,
                    name=action.name,
                    arguments=json.dumps(action.arguments),
                    status="completed",
                )
            )
        else:
            items.append(
                ResponseOutputMessage(
                    type="message",
                    id=f"msg_{prefix}_{index}",
                    role="assistant",
                    status="completed",
                    content=[
                        ResponseOutputText(type="output_text", text=action.text, annotations=[])
                    ],
                )
            )
    return items
