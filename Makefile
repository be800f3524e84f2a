# Two commands matter: `make run` and `make test`. Each builds .venv from pyproject.toml on first use.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The first Python >= 3.11 on PATH; override with `make PYTHON=/path/to/python3.12 test`.
PYTHON ?= $(shell for p in python3 python3.13 python3.12 python3.11; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
	&& { echo $$p; break; }; done)

.PHONY: run test test-faults lint bench record report clean

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "error: Python 3.11+ not found on PATH; install it or run make PYTHON=/path/to/python3.11" >&2; exit 2; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

run: $(STAMP)  ## run the agent (defaults: paper mode, bundled real candles, offline model)
	$(BIN)/python runner.py $(ARGS)

test: $(STAMP)  ## the test suite, offline (the fault storms are make test-faults)
	$(BIN)/python -m pytest -m "not faults" $(ARGS)

test-faults: $(STAMP)  ## the fault storms: kills of a real replay, a faulty exchange; prints figures
	$(BIN)/python -m pytest -m faults tests/faults $(ARGS)

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
