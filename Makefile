# Two entry points for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 0

LOWEST ?= .venv-lowest
LOWEST_STAMP := $(LOWEST)/.installed
# The emulator's contract tests, the end-to-end backup and restore and the progress bar (rich), under
# the lowest versions.
LOWEST_TESTS ?= tests/test_emulator_*.py tests/test_backup_e2e.py tests/test_restore.py tests/test_git_workflows.py \
	tests/test_progress.py

.PHONY: demo test test-lowest lint typecheck unit install clean bench

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
	$(BIN)/pytest -q -n 2

test: lint typecheck unit

# A second environment resolved to the lowest versions pyproject.toml declares (uv's
# --resolution lowest-direct): proves the floors, above all botocore's omics model.
$(LOWEST_STAMP): pyproject.toml $(STAMP)
	$(BIN)/pip install --quiet uv
	rm -rf $(LOWEST)
	$(BIN)/uv venv --quiet --python $(BIN)/python $(LOWEST)
	$(BIN)/uv pip install --quiet --python $(LOWEST)/bin/python --resolution lowest-direct -e '.[test]'
	touch $(LOWEST_STAMP)

test-lowest: $(LOWEST_STAMP)
	$(LOWEST)/bin/python -c "import importlib.metadata as m; print('lowest:', *(f'{p} {m.version(p)}' for p in ('botocore', 'boto3', 'aiobotocore', 'aiohttp', 'zstandard', 'jsonschema', 'moto', 'awscli', 'rich')))"
	$(LOWEST)/bin/pytest -q -p no:cacheprovider $(LOWEST_TESTS)

demo: $(STAMP)
	$(BIN)/python examples/demo.py --archive ./archive

# Generated archives for the browse and verify sections (~1.5 GB, minutes to write) are kept here
# and reused by later runs (bench/README.md); set it empty to generate them in the run's temp dir.
BENCH_ARCHIVE_CACHE ?= $(HOME)/.cache/omics-archiver-bench
bench: $(STAMP)
	BENCH_ARCHIVE_CACHE="$(BENCH_ARCHIVE_CACHE)" $(BIN)/python -m bench

clean:
	rm -rf $(VENV) $(LOWEST) archive archive-report.html .pytest_cache .mypy_cache .ruff_cache
