"""The local server process: llama-cpp-python's OpenAI-compatible app serving one GGUF, behind
the rewriting middleware, on one port. Needs the local-llm extra (imports llama_cpp).

Settings that matter on a 2-core machine (measured): one generation thread (two halve the
speed), requests never interrupt one another, a context of 8192 tokens (the model's own
maximum) so a cycle's tool results fit, and a prompt cache in memory: agents take turns, and
each turn starts with that agent's unchanged instructions.
"""

from __future__ import annotations

import json
import logging
from functools import lru_cache
from pathlib import Path

import llama_cpp
import uvicorn
from llama_cpp import llama_grammar
from llama_cpp.server.app import create_app
from llama_cpp.server.settings import ModelSettings, ServerSettings

from autotrader.localllm.middleware import RewritingMiddleware
from autotrader.localllm.rewrite import Json, RequestRejected

HOST = "127.0.0.1"
N_CTX = 8192
N_THREADS = 1
JSON_CHAR = (
    r'[^"\\\x7F\x00-\x1F] | "\\" (["\\/bfnrt] | "u" [0-9a-fA-F] [0-9a-fA-F] [0-9a-fA-F] '
    r"[0-9a-fA-F])"
)


def forbid_raw_control_characters() -> None:
    """The converter's JSON string rule admits raw newlines and control characters, so a
    "grammar-valid" answer could be invalid JSON; allow them only escaped, as JSON does."""
    llama_grammar.PRIMITIVE_RULES["char"] = llama_grammar.BuiltinRule(JSON_CHAR, [])


class GrammarChecker:
    """Compiles a schema's grammar the way the server will, on a vocabulary-only model: a
    grammar llama.cpp cannot parse would make the server dereference NULL and die."""

    def __init__(self, model: Path) -> None:
        self._vocab = llama_cpp.Llama(str(model), vocab_only=True, verbose=False)
        self._compiles = lru_cache(maxsize=256)(self._compile)

    def __call__(self, schema: Json, what: str) -> None:
        if not self._compiles(json.dumps(schema, sort_keys=True)):
            raise RequestRejected(
                f"{what}: its JSON schema converts to a grammar llama.cpp cannot parse"
            )

    def _compile(self, schema_text: str) -> bool:
        try:
            grammar = llama_grammar.json_schema_to_gbnf(schema_text)
        except Exception:  # the converter gave up: the server uses generic JSON, which is safe
            return True
        vocab = self._vocab._model.vocab
        sampler = llama_cpp.llama_sampler_init_grammar(vocab, grammar.encode(), b"root")
        if not sampler:
            return False
        llama_cpp.llama_sampler_free(sampler)
        return True


def serve(model: Path, port: int, alias: str, n_ctx: int = N_CTX) -> None:
    """Serve until interrupted (SIGINT/SIGTERM end it cleanly); each request and its answer
    is one line on stderr."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    forbid_raw_control_characters()
    server = ServerSettings(host=HOST, port=port, interrupt_requests=False)
    settings = ModelSettings(
        model=str(model),
        model_alias=alias,
        n_ctx=n_ctx,
        n_threads=N_THREADS,
        cache=True,  # keeps each agent's prompt state: its instructions are not re-read
        verbose=False,
    )
    app = create_app(server_settings=server, model_settings=[settings])
    uvicorn.run(
        RewritingMiddleware(app, GrammarChecker(model)),
        host=HOST,
        port=port,
        log_level="warning",
    )
