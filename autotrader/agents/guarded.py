"""A model wrapper that lets only well-formed answers reach the SDK runner.

The SDK raises on a bad handoff payload or final output and never retries. This wrapper checks
each response against what the role must say (its handoff payload or final output, validated
strictly; no unknown tools; no text where a handoff is required), re-asks the model with the
reason a bounded number of times (tenacity), and then answers with the role's safest output
(OBSERVE plan, HOLD proposal, REJECT verdict), noting why in the cycle context. Errors of the
provider itself are not bad output: a refusal that retrying cannot mend (401, 403, 404, 400,
422) becomes ProviderRefused, which stops the run; the rest (timeouts, 429, 5xx, after the
client's own retries) fail the cycle, which the loop retries after a back-off. Every call is
measured (characters sent, latency, the provider's token counts) into the cycle and a span.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import asdict, dataclass
from time import perf_counter
from typing import Any

from agents import ModelResponse, Usage, custom_span
from agents.models.interface import Model, ModelTracing
from openai import APIStatusError
from openai.types.responses import ResponseFunctionToolCall, ResponseOutputMessage
from pydantic import BaseModel, ValidationError
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt

from autotrader.agents.wire import Action, output_items
from autotrader.cycle import CycleContext, ModelCall
from autotrader.errors import MAX_REASON_CHARS, ProviderRefused
from autotrader.schemas import Role

# Statuses after which the same request can only fail again: a bad or unauthorized key, no
# such model or endpoint, a request the provider rejects.
PERMANENT_STATUSES = frozenset({400, 401, 403, 404, 422})

# The cycle being run, for the model wrappers (the SDK does not hand models the run context).
current_cycle: ContextVar[CycleContext | None] = ContextVar("current_cycle", default=None)


def provider_message(error: APIStatusError) -> str:
    """What the provider said, without the client's "Error code: 401 - " wrapping."""
    body = error.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
        if isinstance(inner, str):
            return inner
    return error.message


_SENT_CHARS: dict[tuple[int, ...], tuple[tuple[Any, ...], int]] = {}


def sent_chars(instructions: str | None, tools: list[Any], handoffs: list[Any], output: Any) -> int:
    """The characters of what a request carries besides its input: the instructions and the
    JSON schemas of its tools, handoffs and output (as the wire format spells them). An agent
    sends the same ones every turn: counted once per set of objects (kept, so ids stay theirs)."""
    parts = (instructions, output, *tools, *handoffs)
    key = tuple(map(id, parts))
    known = _SENT_CHARS.get(key)
    if known is not None and all(a is b for a, b in zip(known[0], parts, strict=True)):
        return known[1]
    chars = _count_sent_chars(instructions, tools, handoffs, output)
    if len(_SENT_CHARS) < 64:  # a few agents; never grows with the run
        _SENT_CHARS[key] = (parts, chars)
    return chars


def _count_sent_chars(
    instructions: str | None, tools: list[Any], handoffs: list[Any], output: Any
) -> int:
    schemas = [getattr(t, "params_json_schema", None) for t in tools]
    schemas += [getattr(h, "input_json_schema", None) for h in handoffs]
    schemas.append(output.json_schema() if output is not None else None)
    descriptions = [getattr(t, "description", "") or "" for t in tools]
    descriptions += [getattr(h, "tool_description", "") or "" for h in handoffs]
    wire = json.dumps([s for s in schemas if s], separators=(",", ":"))  # as clients send it
    return len(instructions or "") + len(wire) + sum(map(len, descriptions))


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
    # An answer the rules fully determine (the Judge's verdict on a HOLD): given without
    # spending a model call, and logged as the rule's, not the model's.
    ruled: Callable[[CycleContext | None], list[Action] | None] | None = None


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
        ruled = self.contract.ruled(cycle) if self.contract.ruled else None
        if ruled is not None:
            if cycle is not None:
                cycle.ruled.add(self.contract.role)
            turn = 1 if isinstance(input, str) else len(input)
            prefix = f"rule_{self.contract.role.lower()}_{turn}"
            return ModelResponse(
                output=output_items(ruled, prefix), usage=Usage(), response_id=None
            )

        fixed = sent_chars(system_instructions, tools, handoffs, output_schema)

        async def ask(asked: str | list[Any], attempt: int) -> ModelResponse:
            started = perf_counter()
            with custom_span(f"{self.contract.role.lower()} model call") as span:
                try:
                    response = await self.inner.get_response(
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
                except APIStatusError as error:
                    if error.status_code in PERMANENT_STATUSES:
                        raise ProviderRefused(
                            f"{self.name} refused the request ({error.status_code}: "
                            f"{provider_message(error)}); check OPENAI_API_KEY, the model names "
                            "and OPENAI_BASE_URL (runner.py doctor tests them)"
                        ) from None
                    raise
                call = ModelCall(
                    role=self.contract.role,
                    model=self.name,
                    attempt=attempt,
                    chars=fixed + len(json.dumps(asked, default=str, separators=(",", ":"))),
                    latency_ms=(perf_counter() - started) * 1000,
                    input_tokens=response.usage.input_tokens,
                    output_tokens=response.usage.output_tokens,
                )
                span.span_data.data.update(asdict(call))
            if cycle is not None:
                cycle.model_calls += 1
                cycle.calls.append(call)
            return response

        response = await ask(input, 1)
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
                    number = attempt.retry_state.attempt_number + 1
                    response = await ask(with_correction(input, problem), number)
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
