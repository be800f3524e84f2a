"""A model wrapper that lets only well-formed answers reach the SDK runner.

The SDK raises on a bad handoff payload or final output and never retries. This wrapper checks
each response against what the role must say (its handoff payload or final output, validated
strictly; no unknown tools; no text where a handoff is required), re-asks the model with the
reason a bounded number of times (tenacity), and then answers with the role's safest output
(OBSERVE plan, HOLD proposal, REJECT verdict), noting why in the cycle context. Errors of the
provider itself (network, auth) are not bad output and propagate to the loop.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from agents import ModelResponse, Usage
from agents.models.interface import Model, ModelTracing
from openai.types.responses import ResponseFunctionToolCall, ResponseOutputMessage
from pydantic import BaseModel, ValidationError
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt

from autotrader.agents.wire import Action, output_items
from autotrader.cycle import CycleContext
from autotrader.errors import MAX_REASON_CHARS
from autotrader.schemas import Role

# The cycle being run, for the model wrappers (the SDK does not hand models the run context).
current_cycle: ContextVar[CycleContext | None] = ContextVar("current_cycle", default=None)


class InvalidModelOutput(Exception):
    """A model answer that breaks the role's contract; the message tells the model why."""


@dataclass(frozen=True)
class Contract:
    """What one role must answer with, and what to say instead if it never does."""

    role: Role
    handoff_types: Mapping[str, type[BaseModel]]  # handoff tool name -> its payload model
    final_type: type[BaseModel] | None  # the structured final output, for the last agent
    fallback: Callable[[set[str], CycleContext | None], list[Action]]
    disabled_handoff_hint: str = ""
    # What the final output must also satisfy given the cycle so far (the Judge's rules).
    final_check: Callable[[Any, CycleContext | None], str | None] | None = None


def _short(error: ValidationError) -> str:
    parts = [
        f"{'.'.join(str(p) for p in e['loc']) or 'payload'}: {e['msg']}"
        for e in error.errors(include_url=False)[:3]
    ]
    return "; ".join(parts)


def find_problem(
    response: ModelResponse,
    contract: Contract,
    tools: set[str],
    handoffs: set[str],
    cycle: CycleContext | None = None,
) -> str | None:
    """Why this answer breaks the contract, or None if it is acceptable."""
    calls = [item for item in response.output if isinstance(item, ResponseFunctionToolCall)]
    texts = [item for item in response.output if isinstance(item, ResponseOutputMessage)]
    handing_off = [call.name for call in calls if call.name in contract.handoff_types]
    if len(handing_off) > 1:
        return (
            f"the answer made {len(handing_off)} handoff calls ({', '.join(handing_off)}); "
            "make exactly one"
        )
    for call in calls:
        payload_type = contract.handoff_types.get(call.name)
        if payload_type is not None:
            if call.name not in handoffs:
                return f"{call.name} is not available yet; {contract.disabled_handoff_hint}"
            try:
                payload_type.model_validate_json(call.arguments, strict=True)
            except ValidationError as error:
                return (
                    f"{call.name} payload is not a valid {payload_type.__name__}: {_short(error)}"
                )
        elif call.name not in tools:
            available = ", ".join(sorted(tools | handoffs)) or "none"
            return f"there is no tool {call.name!r}; available: {available}"
    if calls:
        return None
    if contract.final_type is None:
        names = " or ".join(sorted(handoffs)) or "a tool"
        return f"answer by calling {names}; a text answer is not accepted"
    if not texts:
        return "the answer was empty"
    text = "".join(getattr(part, "text", "") for part in getattr(texts[-1], "content", []) or [])
    try:
        final = contract.final_type.model_validate_json(text, strict=True)
    except ValidationError as error:
        return f"the answer is not a valid {contract.final_type.__name__} JSON: {_short(error)}"
    return contract.final_check(final, cycle) if contract.final_check else None


def with_correction(original: str | list[Any], problem: str) -> list[Any]:
    items = [{"role": "user", "content": original}] if isinstance(original, str) else original
    note = (
        f"Your previous answer was rejected: {problem}. Answer again, exactly as your "
        "instructions say: JSON only, valid against the schema."
    )
    return [*items, {"role": "user", "content": note}]


class GuardedModel(Model):
    def __init__(self, inner: Model, contract: Contract, max_retries: int) -> None:
        self.inner = inner
        self.contract = contract
        self.max_retries = max_retries
        self.name = str(getattr(inner, "name", None) or getattr(inner, "model", "model"))

    async def get_response(
        self,
        system_instructions: str | None,
        input: str | list[Any],
        model_settings: Any,
        tools: list[Any],
        output_schema: Any,
        handoffs: list[Any],
        tracing: ModelTracing,
        *,
        previous_response_id: str | None,
        conversation_id: str | None,
        prompt: Any,
    ) -> ModelResponse:
        tool_names = {tool.name for tool in tools}
        handoff_names = {h.tool_name for h in handoffs}
        cycle = current_cycle.get()

        async def ask(asked: str | list[Any]) -> ModelResponse:
            if cycle is not None:
                cycle.model_calls += 1
            return await self.inner.get_response(
                system_instructions,
                asked,
                model_settings,
                tools,
                output_schema,
                handoffs,
                tracing,
                previous_response_id=previous_response_id,
                conversation_id=conversation_id,
                prompt=prompt,
            )

        response = await ask(input)
        problem = find_problem(response, self.contract, tool_names, handoff_names, cycle)
        if problem is None:
            return response
        # Re-ask with the reason, a bounded number of times.
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.max_retries),
            retry=retry_if_exception_type(InvalidModelOutput),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    response = await ask(with_correction(input, problem))
                    found = find_problem(response, self.contract, tool_names, handoff_names, cycle)
                    if found is not None:
                        problem = found
                        raise InvalidModelOutput(found)
                    return response
        except InvalidModelOutput:
            pass
        attempts = self.max_retries + 1
        if cycle is not None:
            cycle.fallbacks[self.contract.role] = f"{problem} ({attempts} attempts)"[
                :MAX_REASON_CHARS
            ]
        actions = self.contract.fallback(handoff_names, cycle)
        turn = 1 if isinstance(input, str) else len(input)
        prefix = f"fallback_{self.contract.role.lower()}_{turn}"
        return ModelResponse(output=output_items(actions, prefix), usage=Usage(), response_id=None)

    def stream_response(self, *args: Any, **kwargs: Any) -> Any:
        return self.inner.stream_response(*args, **kwargs)

    async def close(self) -> None:
        await self.inner.close()
