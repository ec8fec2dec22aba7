# newswatch: `make run` and `make test` work on a fresh machine (they create .venv first).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install run test lint bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(BIN)/.installed

## One full pass on the embedded default (SQLite under var/, in-process tasks).
run: install
	$(BIN)/newswatch run

## Set up and run the whole test suite.
test: install
	$(BIN)/pytest -q

lint: install
	$(BIN)/ruff check worker tests benchmarks
	$(BIN)/mypy worker

## Benchmarks print ratios measured side by side; add ARGS=--json for machine output.
bench: install
	$(BIN)/python benchmarks/bench_matcher.py $(ARGS)
	$(BIN)/python benchmarks/bench_feeds.py $(ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache .hypothesis
