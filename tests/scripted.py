"""A scripted model for graph tests: canned answers (bad ones, usually), then the offline
policy, counting its calls and keeping what it was asked."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from agents import ModelResponse, Usage
from agents.models.interface import Model, ModelTracing
from openai.types.responses import ResponseFunctionToolCall

from autotrader.agents.offline import POLICIES
from autotrader.agents.providers import ModelSet, build_models
from autotrader.agents.wire import Action, FinalText, output_items, transcript_of
from autotrader.config import load_settings
from autotrader.schemas import Role


class Raw:
    """A function call whose arguments are sent verbatim (to send broken JSON)."""

    def __init__(self, name: str, arguments: str) -> None:
        self.name, self.arguments = name, arguments


Answer = Sequence[Action | Raw] | str


class Scripted(Model):
    """Plays canned answers first (bad ones, usually), then the offline policy; counts calls."""

    def __init__(self, role: Role, answers: list[Answer], *, then_offline: bool = True) -> None:
        self.role, self.answers, self.then_offline = role, list(answers), then_offline
        self.name = f"scripted-{role.lower()}"
        self.calls = 0
        self.inputs: list[Any] = []

    async def get_response(
        self,
        system_instructions: str | None,
        input: Any,
        model_settings: Any,
        tools: list[Any],
        output_schema: Any,
        handoffs: list[Any],
        tracing: ModelTracing,
        **_: Any,
    ) -> ModelResponse:
        self.calls += 1
        self.inputs.append(input)
        handoff_names = [h.tool_name for h in handoffs]
        if self.answers:
            answer = self.answers.pop(0)
        else:
            assert self.then_offline, "script exhausted"
            answer = POLICIES[self.role](transcript_of(input, handoff_names), 7)
        return ModelResponse(
            output=items_of(answer, f"{self.role.lower()}{self.calls}"),
            usage=Usage(requests=1),
            response_id=None,
        )

    def stream_response(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("not streamed")


def items_of(answer: Answer, call: str) -> list[Any]:
    if isinstance(answer, str):
        return output_items([FinalText(answer)], f"s{call}")
    if answer and isinstance(answer[0], Raw):
        return [
            ResponseFunctionToolCall(
                type="function_call",
                call_id=f"raw{call}_{i}",
                name=raw.name,
                arguments=raw.arguments,
            )
            for i, raw in enumerate(answer)
            if isinstance(raw, Raw)
        ]
    return output_items([a for a in answer if not isinstance(a, Raw)], f"s{call}")


def scripted_models(**scripted: Model) -> ModelSet:
    settings = load_settings(env_file=None)
    base = build_models(settings)
    models: dict[Role, Model] = dict(base.models)
    for role, model in scripted.items():
        models[cast(Role, role.upper())] = model
    return ModelSet("offline", models, base.names, base.endpoint)
