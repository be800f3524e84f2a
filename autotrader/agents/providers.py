"""Model providers: one setting picks the provider for the whole graph, each role its own model.

- offline: the built-in seeded policy model (no network; the default for a replay).
- openai: Responses API models (OPENAI_MODEL_PLANNER/TRADER/JUDGE).
- openai-compatible: any Chat Completions server (Ollama, vLLM, llama.cpp) at OPENAI_BASE_URL.
Requests time out after MODEL_TIMEOUT_SECS and retry transient failures MODEL_HTTP_RETRIES
times; reasoning models get a reasoning effort per role. Traces go to the local store always,
and to OpenAI only for the real OpenAI API with a real key.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from typing import Any

from agents import OpenAIChatCompletionsModel, OpenAIResponsesModel
from agents.models.default_models import gpt_5_reasoning_settings_required
from agents.models.interface import Model
from agents.tracing import Span, Trace, TracingProcessor
from agents.tracing.processor_interface import TracingExporter
from agents.tracing.processors import BackendSpanExporter, BatchTraceProcessor
from openai import APIError, APIStatusError, AsyncOpenAI

from autotrader.agents.guarded import PERMANENT_STATUSES, provider_message
from autotrader.agents.offline import OfflineModel
from autotrader.config import Provider, Settings, mask_url
from autotrader.schemas import ROLES, Role

OPENAI_API = "https://api.openai.com/v1"
# What a role thinks at when OPENAI_REASONING_EFFORT is unset: the Trader reads the market,
# the Planner and the Judge mostly follow rules.
DEFAULT_EFFORT: dict[Role, str] = {"PLANNER": "minimal", "TRADER": "low", "JUDGE": "minimal"}
O_SERIES = re.compile(r"^o[1-9]")


@dataclass(frozen=True)
class ModelSet:
    provider: Provider
    models: dict[Role, Model]
    names: dict[Role, str]
    endpoint: str
    efforts: dict[Role, str | None] = field(default_factory=dict)  # reasoning models only
    client: AsyncOpenAI | None = None


def is_reasoning_model(name: str) -> bool:
    return gpt_5_reasoning_settings_required(name) or bool(O_SERIES.match(name))


def reasoning_efforts(settings: Settings, names: dict[Role, str]) -> dict[Role, str | None]:
    return {
        role: (settings.openai_reasoning_effort or DEFAULT_EFFORT[role])
        if is_reasoning_model(names[role])
        else None
        for role in ROLES
    }


def model_names(settings: Settings) -> dict[Role, str]:
    if settings.provider == "offline":
        return {role: f"offline-{role.lower()}" for role in ROLES}
    return {
        "PLANNER": settings.openai_model_planner,
        "TRADER": settings.openai_model_trader,
        "JUDGE": settings.openai_model_judge,
    }


def build_models(settings: Settings) -> ModelSet:
    names = model_names(settings)
    if settings.provider == "offline":
        models: dict[Role, Model] = {role: OfflineModel(role, settings.seed) for role in ROLES}
        return ModelSet("offline", models, names, "built-in policy")
    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else "not-needed"
    endpoint = settings.openai_base_url or OPENAI_API
    client = AsyncOpenAI(
        api_key=key,
        base_url=endpoint,
        max_retries=settings.model_http_retries,
        timeout=settings.model_timeout_secs,
    )
    if settings.provider == "openai":
        models = {role: OpenAIResponsesModel(names[role], client) for role in ROLES}
    else:
        models = {role: OpenAIChatCompletionsModel(names[role], client) for role in ROLES}
    efforts = reasoning_efforts(settings, names)
    return ModelSet(settings.provider, models, names, mask_url(endpoint), efforts, client)


def uploads_traces(settings: Settings) -> bool:
    """Only the real OpenAI API with a real key; never a local server's dummy key."""
    return (
        settings.provider == "openai"
        and settings.openai_api_key is not None
        and (settings.openai_base_url or OPENAI_API).rstrip("/") == OPENAI_API
    )


class UploadAtEnd(TracingProcessor):
    """The uploader, handed each trace when it ends rather than when it starts, so what it
    exports carries the metadata the cycle added at its end (its outcome); spans pass as they
    end. Flushed and shut down like the processor it wraps."""

    def __init__(self, inner: TracingProcessor) -> None:
        self.inner = inner

    def on_trace_start(self, trace: Trace) -> None:
        return None

    def on_trace_end(self, trace: Trace) -> None:
        self.inner.on_trace_start(trace)
        self.inner.on_trace_end(trace)

    def on_span_start(self, span: Span[Any]) -> None:
        self.inner.on_span_start(span)

    def on_span_end(self, span: Span[Any]) -> None:
        self.inner.on_span_end(span)

    def force_flush(self) -> None:
        self.inner.force_flush()

    def shutdown(self) -> None:
        self.inner.shutdown()


def trace_processors(
    settings: Settings, local: TracingProcessor, exporter: TracingExporter | None = None
) -> list[TracingProcessor]:
    """The local store always; the OpenAI uploader only for the real API with a real key (or
    `exporter` in its place, for tests)."""
    processors = [local]
    if exporter is None and uploads_traces(settings) and settings.openai_api_key is not None:
        exporter = BackendSpanExporter(api_key=settings.openai_api_key.get_secret_value())
    if exporter is not None:
        processors.append(UploadAtEnd(BatchTraceProcessor(exporter)))
    return processors


@dataclass(frozen=True)
class Ping:
    """What a provider said to a minimal request for one model."""

    model: str
    ok: bool
    permanent: bool  # a refusal retrying cannot mend
    detail: str


async def ping(model_set: ModelSet) -> list[Ping]:
    """Send each configured model a minimal request (a few tokens), all at once."""
    client = model_set.client
    if client is None:  # the offline policy model answers by construction
        return [
            Ping(name, True, False, "built-in") for name in sorted(set(model_set.names.values()))
        ]

    async def one(name: str) -> Ping:
        try:
            if model_set.provider == "openai":
                await client.responses.create(model=name, input="ping", max_output_tokens=16)
            else:
                await client.chat.completions.create(
                    model=name, messages=[{"role": "user", "content": "ping"}], max_tokens=1
                )
        except APIStatusError as error:
            permanent = error.status_code in PERMANENT_STATUSES
            return Ping(name, False, permanent, f"{error.status_code}: {provider_message(error)}")
        except APIError as error:  # no answer: a timeout or a dropped connection
            return Ping(name, False, False, f"{type(error).__name__}: {error}")
        return Ping(name, True, False, "answered")

    return list(
        await asyncio.gather(*(one(name) for name in sorted(set(model_set.names.values()))))
    )
