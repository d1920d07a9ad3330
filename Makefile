# Two entry points for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 0

.PHONY: demo test lint typecheck unit install clean bench

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check archiver tests bench examples
	$(BIN)/ruff format --check archiver tests bench examples

typecheck: $(STAMP)
	$(BIN)/mypy --strict archiver

unit: $(STAMP)
	$(BIN)/pytest -q

test: lint typecheck unit

demo: $(STAMP)
	$(BIN)/python examples/demo.py --archive ./archive

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) archive archive-report.html .pytest_cache .mypy_cache .ruff_cache
