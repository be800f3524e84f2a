"""Model providers: one setting picks the provider for the whole graph, each role its own model.

- offline: the built-in seeded policy model (no network; the default without a key).
- openai: Responses API models (OPENAI_MODEL_PLANNER/TRADER/JUDGE).
- openai-compatible: any Chat Completions server (Ollama, vLLM, llama.cpp) at OPENAI_BASE_URL.
Traces go to the local store always, and to OpenAI only for the real OpenAI API with a real key.
"""

from __future__ import annotations

from dataclasses import dataclass

from agents import OpenAIChatCompletionsModel, OpenAIResponsesModel
from agents.models.interface import Model
from agents.tracing import TracingProcessor
from agents.tracing.processors import BackendSpanExporter, BatchTraceProcessor
from openai import AsyncOpenAI

from autotrader.agents.offline import OfflineModel
from autotrader.config import Provider, Settings
from autotrader.schemas import ROLES, Role

OPENAI_API = "https://api.openai.com/v1"
# A compatible server on a CPU can take minutes for one long prompt, and a client that times out
# and retries only makes a serial server do the same work again.
COMPATIBLE_TIMEOUT_SECS = 900


@dataclass(frozen=True)
class ModelSet:
    provider: Provider
    models: dict[Role, Model]
    names: dict[Role, str]
    endpoint: str


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
    timeout = COMPATIBLE_TIMEOUT_SECS if settings.provider == "openai-compatible" else 120
    client = AsyncOpenAI(api_key=key, base_url=endpoint, max_retries=2, timeout=timeout)
    if settings.provider == "openai":
        models = {role: OpenAIResponsesModel(names[role], client) for role in ROLES}
    else:
        models = {role: OpenAIChatCompletionsModel(names[role], client) for role in ROLES}
    return ModelSet(settings.provider, models, names, endpoint)


def uploads_traces(settings: Settings) -> bool:
    """Only the real OpenAI API with a real key; never a local server's dummy key."""
    return (
        settings.provider == "openai"
        and settings.openai_api_key is not None
        and (settings.openai_base_url or OPENAI_API).rstrip("/") == OPENAI_API
    )


def trace_processors(settings: Settings, local: TracingProcessor) -> list[TracingProcessor]:
    processors = [local]
    if uploads_traces(settings) and settings.openai_api_key is not None:
        exporter = BackendSpanExporter(api_key=settings.openai_api_key.get_secret_value())
        processors.append(BatchTraceProcessor(exporter))
    return processors
